"""The reflog check before a pod starts, and a signing refusal reported by a pod."""

from __future__ import annotations

from typing import Any

from cvmfs_operator.api.phases import Phase
from cvmfs_operator.api.types import Repository
from cvmfs_operator.reconcile import reflog
from cvmfs_operator.reconcile.observed import Stratum0View
from cvmfs_operator.reconcile.transaction import CreatePod, ReadStratum0, SetStatus, Wait, decide
from tests.unit.reconcile.builders import (
    ME,
    NOW_TEXT,
    apply,
    failure,
    observed,
    pod,
    repository,
    transaction,
)

OURS, THEIRS = "a" * 40, "b" * 40
BUCKET = Stratum0View(revision=12, root_hash="c" * 40, tag_revision=None, reflog_read=True,
                      bucket_reflog=THEIRS)


def repo(checksum: str | None = OURS, ack: str | None = None, **status: Any) -> Repository:
    r = repository()
    if checksum is not None:
        r["status"] = {"reflogChecksum": checksum, "reflogRevision": 9, "revision": 12, **status}  # type: ignore[typeddict-item]
    if ack is not None:
        r["metadata"]["annotations"] = {reflog.ACKNOWLEDGE_ANNOTATION: ack}
    return r


def test_the_first_publish_takes_the_buckets_checksum() -> None:
    obs = observed(transaction(Phase.QUEUED), repo=repo(None), lock=ME, stratum0=BUCKET)
    assert decide(obs) == CreatePod(1, THEIRS)


def test_a_matching_checksum_is_handed_over() -> None:
    same = Stratum0View(revision=9, tag_revision=None, reflog_read=True, bucket_reflog=OURS)
    obs = observed(transaction(Phase.QUEUED), repo=repo(), lock=ME, stratum0=same)
    assert decide(obs) == CreatePod(1, OURS)


def test_the_reflog_is_read_before_a_pod_is_started() -> None:
    without = Stratum0View(revision=9, tag_revision=None)  # read for verification only
    assert decide(observed(transaction(Phase.QUEUED), repo=repo(), lock=ME, stratum0=without)) \
        == ReadStratum0(reflog=True)


def test_a_mismatch_starts_nothing_and_says_what_the_bucket_and_the_operator_hold() -> None:
    obs = observed(transaction(Phase.QUEUED), repo=repo(), lock=ME, stratum0=BUCKET)
    action = decide(obs)
    assert isinstance(action, SetStatus)
    assert action.status.get("phase") == "Queued"
    assert action.status.get("reason") == "ReflogMismatch"
    message = str(action.status.get("message"))
    assert "revision 12" in message
    assert "last published revision 9" in message
    assert f"{reflog.ACKNOWLEDGE_ANNOTATION}={THEIRS}" in message
    assert action.warning
    assert action.event == message
    assert action.repository == {"reflogMismatch": {
        "expected": OURS, "found": THEIRS, "bucketRevision": 12, "lastPublishedRevision": 9,
        "detectedAt": NOW_TEXT}}
    # Converges: applied, the same observation waits without writing again.
    recorded = repo(reflogMismatch=action.repository["reflogMismatch"])
    obs = observed(transaction(Phase.QUEUED), repo=recorded, lock=ME, stratum0=BUCKET)
    again = decide(apply(obs, action))
    assert isinstance(again, Wait)


def test_the_acknowledgement_resumes_from_the_buckets_reflog() -> None:
    obs = observed(transaction(Phase.QUEUED), repo=repo(ack=THEIRS), lock=ME, stratum0=BUCKET)
    assert decide(obs) == CreatePod(1, THEIRS)


def test_a_stale_acknowledgement_does_not_count() -> None:
    obs = observed(transaction(Phase.QUEUED), repo=repo(ack="d" * 40), lock=ME, stratum0=BUCKET)
    action = decide(obs)
    assert isinstance(action, SetStatus)
    assert action.status.get("reason") == "ReflogMismatch"


def test_a_bucket_without_reflog_is_a_mismatch_acknowledged_as_none() -> None:
    gone = Stratum0View(revision=12, tag_revision=None, reflog_read=True, bucket_reflog=None)
    action = decide(observed(transaction(Phase.QUEUED), repo=repo(), lock=ME, stratum0=gone))
    assert isinstance(action, SetStatus)
    assert action.status.get("reason") == "ReflogMismatch"
    assert "no .cvmfsreflog" in str(action.status.get("message"))
    acked = observed(transaction(Phase.QUEUED), repo=repo(ack=reflog.NO_REFLOG), lock=ME, stratum0=gone)
    assert decide(acked) == CreatePod(1, None)


def test_a_signing_refusal_is_not_retried_but_goes_through_the_reflog_check() -> None:
    txn = transaction(Phase.RUNNING, attempts=1, podName="publisher-a1", startTime=NOW_TEXT)
    refused = pod(1, "Failed", exit_code=9, termination_message=failure(
        "ReflogMismatch", "publish", "cvmfs_server publish failed with exit code 1: Signing failed"))
    obs = observed(txn, repo=repo(), lock=ME, pods=[refused])
    action = decide(obs)
    assert isinstance(action, SetStatus)
    assert action.status.get("phase") == "Running"
    assert action.status.get("reason") == "ReflogMismatch"
    assert action.status.get("lastFailure", {}).get("reason") == "ReflogMismatch"
    after = apply(obs, action)
    assert decide(after).__class__.__name__ == "DeletePod"
    gone = apply(observed(after.transaction, repo=repo(), lock=ME), action)
    assert decide(gone) == ReadStratum0(reflog=True)
    waiting = decide(observed(gone.transaction, repo=repo(), lock=ME, stratum0=BUCKET))
    assert isinstance(waiting, SetStatus)
    assert waiting.status.get("reason") == "ReflogMismatch"
    assert waiting.status.get("phase") == "Running"


def test_the_repository_condition_message_until_acknowledged() -> None:
    record = {"expected": OURS, "found": THEIRS, "bucketRevision": 12, "lastPublishedRevision": 9,
              "detectedAt": NOW_TEXT}
    message = reflog.unacknowledged(repo(reflogMismatch=record))
    assert message is not None
    assert "revision 12" in message
    assert THEIRS in message
    assert reflog.unacknowledged(repo(ack=THEIRS, reflogMismatch=record)) is None
    assert reflog.unacknowledged(repo()) is None
