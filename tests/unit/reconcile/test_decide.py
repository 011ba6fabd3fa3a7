"""``decide`` and ``decide_deletion``: one hand-built observation per branch.

Every status the decision writes is checked for conditions that agree with its phase, for
``observedGeneration``, and for convergence: applied to the observation, the next decision must not
write that status again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from cvmfs_operator.api.phases import Phase
from cvmfs_operator.reconcile import transaction as decisions
from cvmfs_operator.reconcile.observed import Observed, PodView, QueueEntry, Stratum0View
from cvmfs_operator.reconcile.transaction import (
    DEADLINE_GRACE_SECONDS,
    QUEUED_BACKOFF,
    QUEUED_SAFETY_NET,
    STALE_LOCK_SECONDS,
    AcquireLock,
    BreakLock,
    CreatePod,
    DeletePod,
    Done,
    ReadStratum0,
    ReleaseLock,
    SetStatus,
    Wait,
    decide,
    decide_deletion,
)
from tests.unit.reconcile.builders import (
    INTERVAL,
    ME,
    ME_ENTRY,
    NOW_TEXT,
    OTHER,
    OTHER_ENTRY,
    ago,
    apply,
    failure,
    observed,
    pod,
    repository,
    result,
    status_of,
    text_ago,
    transaction,
)

EXPECTED_CONDITIONS = {  # phase -> (Ready, Reconciling, Stalled, Published)
    Phase.PENDING: ("False", "True", "False", "False"),
    Phase.QUEUED: ("False", "True", "False", "False"),
    Phase.RUNNING: ("False", "True", "False", "False"),
    Phase.SUCCEEDED: ("True", "False", "False", "True"),
    Phase.FAILED: ("False", "False", "True", "False"),
    Phase.CANCELLED: ("False", "False", "True", "False"),
}


def set_status(obs: Observed, phase: Phase, reason: str) -> tuple[SetStatus, Observed]:
    """Decide, expect a status with this phase and reason, check it and its convergence."""
    action = decide(obs)
    assert isinstance(action, SetStatus), action
    status = action.status
    assert status.get("phase") == phase.value
    assert status.get("reason") == reason
    generation = obs.transaction["metadata"]["generation"]
    assert status.get("observedGeneration") == generation
    conditions = {c["type"]: c for c in status.get("conditions", [])}
    assert set(conditions) == {"Ready", "Reconciling", "Stalled", "Published"}
    got = tuple(conditions[kind]["status"] for kind in ("Ready", "Reconciling", "Stalled", "Published"))
    assert got == EXPECTED_CONDITIONS[phase]
    for condition in conditions.values():
        assert condition["observedGeneration"] == generation
        assert condition["reason"] == reason
    assert conditions["Ready"]["message"] == status.get("message")
    after = apply(obs, action)
    again = decide(after)
    if isinstance(again, SetStatus):  # a next step may write a status, never the same one again
        assert (again.status.get("phase"), again.status.get("reason")) != (phase.value, reason), again
    return action, after


# --------------------------------------------------------------------------------------------
# Before the lock: Repository, admission checks, queue
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", [None, Phase.PENDING, Phase.QUEUED])
def test_missing_repository_is_pending(phase: Phase | None) -> None:
    obs = observed(transaction(phase, queuePosition=3) if phase else transaction(), no_repo=True)
    action, after = set_status(obs, Phase.PENDING, "RepositoryNotFound")
    assert "software.example.org" in action.status.get("message", "")
    assert action.warning
    assert "queuePosition" in action.status
    assert action.status["queuePosition"] is None
    assert decide(after) == Wait(INTERVAL)


def test_repository_deleted_while_running_fails_and_releases_the_lock() -> None:
    txn = transaction(Phase.RUNNING, attempts=1,
                      lastFailure={"attempt": 1, "reason": "Busy", "message": "busy"})
    obs = observed(txn, no_repo=True, lock=ME)
    action, after = set_status(obs, Phase.FAILED, "RepositoryNotFound")
    assert action.status.get("completionTime") == NOW_TEXT
    assert decide(after) == ReleaseLock()


def test_namespace_not_allowed_fails_naming_the_field() -> None:
    obs = observed(transaction(), repo=repository(allowedNamespaces=["team-b", "team-c"]))
    action, _ = set_status(obs, Phase.FAILED, "NamespaceNotAllowed")
    message = action.status.get("message", "")
    assert "spec.allowedNamespaces" in message
    assert "'team-a'" in message
    assert action.status.get("completionTime") == NOW_TEXT
    assert action.warning


def test_wildcard_allows_every_namespace() -> None:
    obs = observed(transaction(), repo=repository(allowedNamespaces=["*"]))
    assert decide(obs) == AcquireLock()


def test_scripts_refused_unless_the_repository_allows_them() -> None:
    txn = transaction()
    txn["spec"]["payload"] = {"script": {"source": "touch x"}}
    action, _ = set_status(observed(txn), Phase.FAILED, "ScriptsNotAllowed")
    assert "spec.publisher.allowScripts" in action.status.get("message", "")
    allowed = observed(txn, repo=repository(publisher={"allowScripts": True}))
    assert decide(allowed) == AcquireLock()


@pytest.mark.parametrize("payload", [
    {},
    {"tarball": {"url": "https://x/y.tgz"}, "remove": {"paths": ["a"]}},
])
def test_payload_must_have_exactly_one_kind(payload: dict[str, object]) -> None:
    txn = transaction()
    txn["spec"]["payload"] = payload  # type: ignore[typeddict-item]
    set_status(observed(txn), Phase.FAILED, "InvalidPayload")


def test_s3_tarball_needs_s3_storage() -> None:
    txn = transaction()
    txn["spec"]["payload"] = {"tarball": {"url": "s3://bucket/sw.tgz"}}
    gateway = repository(stratum0={
        "url": "http://s0/cvmfs/x",
        "gateway": {"url": "http://gw:4929/api/v1", "keySecretRef": {"name": "g"}},
    })
    action, _ = set_status(observed(txn, repo=gateway), Phase.FAILED, "InvalidPayload")
    assert "s3://" in action.status.get("message", "")
    assert decide(observed(txn)) == AcquireLock()


def test_queue_position_is_fifo_and_excludes_the_lock_holder() -> None:
    earlier = QueueEntry(created="2024-05-01T11:30:00Z", namespace="team-c", name="a", uid="u-c")
    later = QueueEntry(created="2024-05-01T12:10:00Z", namespace="team-d", name="b", uid="u-d")
    obs = observed(transaction(), lock=OTHER, queue=[later, ME_ENTRY, OTHER_ENTRY, earlier])
    action, after = set_status(obs, Phase.QUEUED, "Queued")
    assert action.status.get("queuePosition") == 2
    assert "position 2" in action.status.get("message", "")
    assert "team-b/nightly" in action.status.get("message", "")
    assert decide(after) == Wait(max(INTERVAL * QUEUED_BACKOFF, QUEUED_SAFETY_NET))


def test_a_queue_position_is_written_on_joining_and_when_next() -> None:
    """Not one write per hand-over per waiting Transaction (quadratic over a queue): the written
    position stays an upper bound and is rewritten only when it reaches 1."""
    ahead = [QueueEntry(created=f"2024-05-01T11:{minute:02d}:00Z", namespace="team-q", name=f"q{minute}",
                        uid=f"u-{minute}") for minute in range(8)]
    obs = observed(transaction(), lock=OTHER, queue=[*ahead, ME_ENTRY])
    _, after = set_status(obs, Phase.QUEUED, "Queued")
    assert after.transaction["status"]["queuePosition"] == 9
    writes: dict[int, int | None] = {9: 9}
    for done in range(1, 9):  # the head finishes, one after the other
        obs = observed(after.transaction, lock=OTHER, queue=[*ahead[done:], ME_ENTRY])
        action = decide(obs)
        position = 9 - done
        if isinstance(action, SetStatus):
            writes[position] = action.status["queuePosition"]
            after = apply(obs, action)
        else:
            assert isinstance(action, Wait)
        shown = after.transaction["status"]["queuePosition"]
        assert shown is not None
        assert shown >= position  # never below the truth
    assert writes == {9: 9, 1: 1}


def test_queue_ties_on_creation_time_are_broken_by_namespace_and_name() -> None:
    twin = QueueEntry(created=ME_ENTRY.created, namespace="team-0", name="z", uid="u-0")
    action, _ = set_status(observed(transaction(), queue=[ME_ENTRY, twin]), Phase.QUEUED, "Queued")
    assert action.status.get("queuePosition") == 2


def test_not_yet_in_the_queue_index_waits_briefly() -> None:
    assert decide(observed(transaction(), queue=[OTHER_ENTRY])) == Wait(1.0)


def test_head_of_the_queue_with_a_free_lock_acquires_it() -> None:
    assert decide(observed(transaction(Phase.QUEUED, queuePosition=2))) == AcquireLock()


def test_head_of_the_queue_behind_a_live_holder_is_queued_first() -> None:
    obs = observed(transaction(), lock=OTHER, lock_age=3600.0, holder_alive=True,
                   queue=[OTHER_ENTRY, ME_ENTRY])
    action, _ = set_status(obs, Phase.QUEUED, "Queued")
    assert action.status.get("queuePosition") == 1


def test_stale_lock_of_a_dead_holder_is_broken() -> None:
    obs = observed(transaction(Phase.QUEUED, queuePosition=1), lock=OTHER,
                   lock_age=STALE_LOCK_SECONDS + 1, holder_alive=False)
    assert decide(obs) == BreakLock(OTHER)


@pytest.mark.parametrize("age", [None, 0.0, STALE_LOCK_SECONDS - 1, STALE_LOCK_SECONDS])
def test_young_lock_of_a_dead_holder_is_waited_for(age: float | None) -> None:
    obs = observed(transaction(), lock=OTHER, lock_age=age, holder_alive=False)
    action, _ = set_status(obs, Phase.QUEUED, "Queued")
    assert action.status.get("queuePosition") == 1


def test_dead_holder_is_not_broken_by_a_transaction_further_back() -> None:
    first = QueueEntry(created="2024-05-01T11:59:00Z", namespace="team-c", name="a", uid="u-c")
    obs = observed(transaction(), lock=OTHER, lock_age=3600.0, holder_alive=False,
                   queue=[first, ME_ENTRY])
    action, _ = set_status(obs, Phase.QUEUED, "Queued")
    assert action.status.get("queuePosition") == 2


NOT_PUBLISHED = Stratum0View(revision=7, root_hash="c" * 40, tag_revision=None, reflog_read=True)
PUBLISHED = Stratum0View(revision=8, root_hash="d" * 40, tag_revision=8, tag_hash="d" * 40, reflog_read=True)
UNREACHABLE = Stratum0View(error="connection refused", reflog_read=True)


@pytest.mark.parametrize("phase", [None, Phase.PENDING, Phase.QUEUED])
def test_holding_the_lock_reads_the_repository_then_creates_the_first_pod(phase: Phase | None) -> None:
    txn = transaction(phase, queuePosition=1) if phase else transaction()
    assert decide(observed(txn, lock=ME)) == ReadStratum0(reflog=True)
    assert decide(observed(txn, lock=ME, stratum0=NOT_PUBLISHED)) == CreatePod(1)


def test_tag_already_in_the_repository_is_already_published() -> None:
    s0 = Stratum0View(revision=9, root_hash="f" * 40, tag_revision=4, tag_hash="a" * 40, reflog_read=True)
    obs = observed(transaction(Phase.QUEUED, queuePosition=1), lock=ME, stratum0=s0)
    action, after = set_status(obs, Phase.SUCCEEDED, "AlreadyPublished")
    assert action.status.get("revisionAfter") == 4
    assert action.status.get("rootHash") == "a" * 40
    assert action.status.get("completionTime") == NOW_TEXT
    assert "queuePosition" in action.status
    assert action.status["queuePosition"] is None
    assert "team-a_release-1" in action.status.get("message", "")
    assert decide(after) == ReleaseLock()


@pytest.mark.parametrize(("phase", "waiting"), [(None, Phase.QUEUED), (Phase.QUEUED, Phase.QUEUED),
                                                (Phase.RUNNING, Phase.RUNNING)])
def test_unreadable_repository_blocks_the_start(phase: Phase | None, waiting: Phase) -> None:
    txn = transaction(phase, **running(lastFailure={"attempt": 1, "reason": "Busy", "message": "b"})) \
        if phase is Phase.RUNNING else transaction(phase)
    action, after = set_status(observed(txn, lock=ME, stratum0=UNREACHABLE), waiting, "Stratum0Unreachable")
    assert "connection refused" in action.status.get("message", "")
    assert decide(after) == Wait(INTERVAL)


def test_new_generation_refreshes_observed_generation() -> None:
    obs = observed(transaction(Phase.QUEUED, queuePosition=1), lock=OTHER)
    _, queued = set_status(obs, Phase.QUEUED, "Queued")
    queued.transaction["metadata"]["generation"] = 2
    action, _ = set_status(queued, Phase.QUEUED, "Queued")
    assert action.status.get("observedGeneration") == 2


# --------------------------------------------------------------------------------------------
# Pods: adoption, watching, recording
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", [None, Phase.QUEUED, Phase.RUNNING])
def test_pod_of_a_newer_attempt_is_adopted(phase: Phase | None) -> None:
    txn = transaction(phase, queuePosition=1) if phase else transaction()
    obs = observed(txn, lock=ME, pods=[pod(1, "Pending", created=ago(5))])
    action, after = set_status(obs, Phase.RUNNING, "Publishing")
    status = action.status
    assert status.get("attempts") == 1
    assert status.get("podName") == "publisher-a1"
    assert status.get("startTime") == text_ago(5)
    assert "queuePosition" in status
    assert status["queuePosition"] is None
    assert decide(after) == Wait(INTERVAL)


def test_adoption_keeps_the_first_start_time() -> None:
    txn = transaction(Phase.RUNNING, attempts=1, startTime=text_ago(600), podName="publisher-a1",
                      lastFailure={"attempt": 1, "reason": "Busy", "message": "busy"})
    action, _ = set_status(observed(txn, lock=ME, pods=[pod(2, created=ago(5))]), Phase.RUNNING, "Publishing")
    assert action.status.get("startTime") == text_ago(600)
    assert action.status.get("attempts") == 2


def test_adoption_keeps_lock_transition_times_of_unchanged_conditions() -> None:
    queued = observed(transaction(), lock=OTHER, now=ago(300))
    _, after = set_status(queued, Phase.QUEUED, "Queued")
    running = observed(after.transaction, lock=ME, pods=[pod(1)])
    action, _ = set_status(running, Phase.RUNNING, "Publishing")
    times = {c["type"]: c["lastTransitionTime"] for c in action.status.get("conditions", [])}
    assert times["Reconciling"] == text_ago(300)  # still True: no transition
    assert times["Ready"] == text_ago(300)


def running(attempts: int = 1, **status: Any) -> dict[str, Any]:
    return {"attempts": attempts, "podName": f"publisher-a{attempts}", "startTime": text_ago(60), **status}


def test_running_pod_within_its_deadline_is_waited_for() -> None:
    txn = transaction(Phase.RUNNING, **running())
    limit = 3600 + DEADLINE_GRACE_SECONDS
    assert decide(observed(txn, lock=ME, pods=[pod(1, created=ago(limit - 1))])) == Wait(INTERVAL)
    assert decide(observed(txn, lock=ME, pods=[pod(1, "Pending", created=ago(10))])) == Wait(INTERVAL)


def test_pod_past_its_deadline_and_grace_fails_then_is_deleted_before_the_lock_is_released() -> None:
    txn = transaction(Phase.RUNNING, **running())
    txn["spec"]["timeoutSeconds"] = 600
    stuck = pod(1, created=ago(600 + DEADLINE_GRACE_SECONDS + 1))
    action, after = set_status(observed(txn, lock=ME, pods=[stuck]), Phase.FAILED, "DeadlineExceeded")
    assert action.status.get("completionTime") == NOW_TEXT
    assert action.warning
    assert not action.hand_over, "its pod still runs: the lock is kept until the pod is gone"
    assert decide(after) == DeletePod("publisher-a1", "the Transaction is Failed")
    deleting = observed(after.transaction, lock=ME, pods=[pod(1, created=stuck.created, deleting=True)])
    assert decide(deleting) == Wait(2.0)
    assert decide(observed(after.transaction, lock=ME)) == ReleaseLock()


def test_pod_past_its_deadline_that_is_already_being_deleted_is_waited_for() -> None:
    txn = transaction(Phase.RUNNING, **running())
    stuck = pod(1, created=ago(3600 + DEADLINE_GRACE_SECONDS + 1), deleting=True)
    assert decide(observed(txn, lock=ME, pods=[stuck])) == Wait(INTERVAL)


def test_successful_pod_records_the_publish_on_transaction_and_repository() -> None:
    txn = transaction(Phase.RUNNING, **running())
    done = pod(1, "Succeeded", exit_code=0, termination_message=result())
    assert decide(observed(txn, lock=ME, pods=[done])) == ReadStratum0(purpose="verify")
    # With someone waiting for the lock, the read takes the reflog too: it is handed on with it.
    waiting = observed(txn, lock=ME, pods=[done], queue=[ME_ENTRY, OTHER_ENTRY])
    assert decide(waiting) == ReadStratum0(reflog=True, purpose="verify")
    obs = observed(txn, lock=ME, pods=[done], stratum0=PUBLISHED)
    action, after = set_status(obs, Phase.SUCCEEDED, "Published")
    status = action.status
    assert status.get("revisionBefore") == 7
    assert status.get("revisionAfter") == 8
    assert status.get("rootHash") == "d" * 40
    assert status.get("reflogChecksum") == "e" * 40
    assert status.get("completionTime") == NOW_TEXT
    assert status.get("durations") == {"mount": 1.5, "publish": 3.0}
    assert status.get("logTail") == ["publishing", "done"]
    assert status.get("tag") == "team-a_release-1"
    assert action.repository == {"revision": 8, "rootHash": "d" * 40, "lastPublishTime": NOW_TEXT,
                                 "reflogChecksum": "e" * 40, "reflogRevision": 8}
    assert not action.warning
    assert action.hand_over, "its pod has ended: the lock goes on before this status is written"
    # Then: release the lock first, delete the succeeded pod at once (even with a TTL), done.
    after.transaction["spec"]["ttlSecondsAfterFinished"] = 3600
    assert decide(after) == ReleaseLock()
    assert decide(observed(after.transaction, pods=[done])) == DeletePod("publisher-a1", "finished")
    assert decide(observed(after.transaction)) == Done()


def test_a_publish_older_than_the_repository_records_is_not_recorded_over_it() -> None:
    """Decided late (a replica behind): the Repository already records a newer revision."""
    txn = transaction(Phase.RUNNING, **running())
    done = pod(1, "Succeeded", exit_code=0, termination_message=result())
    repo = repository()
    repo["status"] = {"revision": 9, "reflogChecksum": "f" * 40}
    action, _ = set_status(observed(txn, repo=repo, lock=ME, pods=[done], stratum0=PUBLISHED),
                           Phase.SUCCEEDED, "Published")
    assert action.status.get("revisionAfter") == 8
    assert action.repository is None
    repo["status"] = {"revision": 8}  # the same publish seen by the health loop: recorded
    action, _ = set_status(observed(txn, repo=repo, lock=ME, pods=[done], stratum0=PUBLISHED),
                           Phase.SUCCEEDED, "Published")
    assert action.repository is not None


def test_reported_publish_missing_from_the_repository_fails_verification() -> None:
    txn = transaction(Phase.RUNNING, **running())
    done = pod(1, "Succeeded", exit_code=0, termination_message=result())
    for s0 in (NOT_PUBLISHED, Stratum0View(revision=8, tag_revision=8, tag_hash="0" * 40, reflog_read=True)):
        action, after = set_status(observed(txn, lock=ME, pods=[done], stratum0=s0), Phase.FAILED,
                                   "VerificationFailed")
        assert action.status.get("completionTime") == NOW_TEXT
        assert "revisionAfter" not in action.status
        assert action.repository is None
        assert decide(after) == ReleaseLock()


def test_reported_publish_is_not_recorded_while_the_repository_is_unreadable() -> None:
    txn = transaction(Phase.RUNNING, **running())
    done = pod(1, "Succeeded", exit_code=0, termination_message=result())
    action, after = set_status(observed(txn, lock=ME, pods=[done], stratum0=UNREACHABLE), Phase.RUNNING,
                               "Verifying")
    assert action.repository is None
    assert decide(after) == Wait(INTERVAL)


def test_cancelled_publisher_cancels_the_transaction() -> None:
    txn = transaction(Phase.RUNNING, **running())
    stopped = pod(1, "Failed", exit_code=8, termination_message=result(
        outcome="Cancelled", errorClass="Cancelled", step="publish", message="SIGTERM",
        revisionAfter=None, rootHash=None, tag=None, reflogChecksum=None))
    action, _ = set_status(observed(txn, lock=ME, pods=[stopped]), Phase.CANCELLED, "Cancelled")
    assert action.status.get("completionTime") == NOW_TEXT
    assert action.hand_over


def test_a_final_status_hands_the_lock_over_first_only_when_it_holds_it_and_no_pod_runs() -> None:
    txn = transaction(Phase.RUNNING, **running())
    done = pod(1, "Succeeded", exit_code=0, termination_message=result())
    # Written again after a conflict or a restart, the lock already with the next one: no hand-over,
    # and the Repository's record is left alone.
    action, _ = set_status(observed(txn, lock=OTHER, pods=[done], stratum0=PUBLISHED), Phase.SUCCEEDED,
                           "Published")
    assert not action.hand_over
    assert action.repository is None, "recorded before the hand-over; the next holder's may be newer"
    # A pod of an older attempt still running (not yet stopped): the lock stays until it is gone.
    older = pod(0, "Running")
    action, _ = set_status(observed(txn, lock=ME, pods=[older, done], stratum0=PUBLISHED), Phase.SUCCEEDED,
                           "Published")
    assert not action.hand_over
    # Not final: no hand-over (a retry keeps the lock).
    failed = pod(1, "Failed", exit_code=4, termination_message=failure("Busy", "transaction"))
    action, _ = set_status(observed(txn, lock=ME, pods=[failed]), Phase.RUNNING, "Retrying")
    assert not action.hand_over


def test_retryable_failure_retries_then_deletes_the_pod_then_starts_the_next_attempt() -> None:
    txn = transaction(Phase.RUNNING, **running())
    failed = pod(1, "Failed", exit_code=4, termination_message=failure("Busy", "transaction"))
    action, after = set_status(observed(txn, lock=ME, pods=[failed]), Phase.RUNNING, "Retrying")
    assert action.status.get("lastFailure") == {
        "attempt": 1, "reason": "Busy", "message": "Busy at step transaction: boom"}
    assert "1/2" in action.status.get("message", "")
    assert action.warning
    assert decide(after) == DeletePod("publisher-a1", "attempt 1 ended and was recorded")
    assert decide(observed(after.transaction, lock=ME)) == ReadStratum0(reflog=True)
    assert decide(observed(after.transaction, lock=ME, stratum0=NOT_PUBLISHED)) == CreatePod(2)


def test_older_attempt_pods_are_deleted_while_retrying() -> None:
    busy = {"attempt": 2, "reason": "Busy", "message": "b"}
    txn = transaction(Phase.RUNNING, **running(2, lastFailure=busy))
    old = pod(1, "Failed", exit_code=4)
    assert decide(observed(txn, lock=ME, pods=[old])) == DeletePod("publisher-a1",
                                                                   "attempt 1 ended and was recorded")


@pytest.mark.parametrize(("backoff", "attempt"), [(2, 3), (0, 1), (1, 2)])
def test_exhausted_backoff_limit_fails_once_the_repository_shows_no_publish(backoff: int,
                                                                            attempt: int) -> None:
    txn = transaction(Phase.RUNNING, **running(attempt))
    txn["spec"]["backoffLimit"] = backoff
    crashed = pod(attempt, "Failed", exit_code=1, termination_message="segfault")
    action, recorded = set_status(observed(txn, lock=ME, pods=[crashed]), Phase.RUNNING, "Retrying")
    assert action.status.get("lastFailure", {}).get("attempt") == attempt
    assert action.status.get("logTail") == ["segfault"]
    assert "no retries left" in action.status.get("message", "")
    assert decide(recorded) == DeletePod(f"publisher-a{attempt}", f"attempt {attempt} ended and was recorded")
    gone = dataclasses.replace(recorded, pods=[])
    assert decide(gone) == ReadStratum0(reflog=True)
    action, after = set_status(dataclasses.replace(gone, stratum0=NOT_PUBLISHED), Phase.FAILED,
                               "PublisherCrashed")
    assert f"gave up after {attempt} attempts" in action.status.get("message", "")
    assert action.status.get("completionTime") == NOW_TEXT
    assert decide(after) == ReleaseLock()


@pytest.mark.parametrize("error_class", ["PayloadFailed", "PublishFailed", "InvalidInput"])
def test_non_retryable_failure_fails_at_once(error_class: str) -> None:
    txn = transaction(Phase.RUNNING, **running())
    failed = pod(1, "Failed", exit_code=6, termination_message=failure(error_class, "payload"))
    set_status(observed(txn, lock=ME, pods=[failed]), Phase.FAILED, error_class)


def test_vanished_pod_is_recorded_as_lost_then_retried() -> None:
    txn = transaction(Phase.RUNNING, **running())
    action, after = set_status(observed(txn, lock=ME), Phase.RUNNING, "PodLost")
    assert action.status.get("lastFailure") == {
        "attempt": 1, "reason": "PodLost",
        "message": "publisher pod of attempt 1 disappeared without a result",
    }
    assert decide(after) == ReadStratum0(reflog=True)
    assert decide(dataclasses.replace(after, stratum0=NOT_PUBLISHED)) == CreatePod(2)


def test_vanished_pod_of_the_last_allowed_attempt_fails_once_the_repository_shows_no_publish() -> None:
    txn = transaction(Phase.RUNNING, **running(3))
    _, lost = set_status(observed(txn, lock=ME), Phase.RUNNING, "PodLost")
    assert decide(lost) == ReadStratum0(reflog=True)
    action, after = set_status(dataclasses.replace(lost, stratum0=NOT_PUBLISHED), Phase.FAILED, "PodLost")
    assert "gave up after 3 attempts" in action.status.get("message", "")
    assert decide(after) == ReleaseLock()


# --------------------------------------------------------------------------------------------
# Exactly-once: the repository decides before a publisher (re)starts (DESIGN §3, §4)
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reason", ["PodLost", "Internal", "OOMKilled"])
def test_retry_reads_the_repository_before_creating_the_next_pod(reason: str) -> None:
    txn = transaction(Phase.RUNNING, **running(lastFailure={"attempt": 1, "reason": reason, "message": "?"}))
    assert decide(observed(txn, lock=ME)) == ReadStratum0(reflog=True)
    assert decide(observed(txn, lock=ME, stratum0=NOT_PUBLISHED)) == CreatePod(2)


def test_retry_after_an_attempt_that_did_publish_recovers_without_a_new_pod() -> None:
    txn = transaction(Phase.RUNNING, **running(
        revisionBefore=7, lastFailure={"attempt": 1, "reason": "PodLost", "message": "?"}))
    action, after = set_status(observed(txn, lock=ME, stratum0=PUBLISHED), Phase.SUCCEEDED, "Recovered")
    assert action.status.get("revisionAfter") == 8
    assert action.status.get("rootHash") == "d" * 40
    assert decide(after) == ReleaseLock()


@pytest.mark.parametrize("lost", [True, False])
def test_last_attempt_without_a_result_asks_the_repository_before_giving_up(lost: bool) -> None:
    txn = transaction(Phase.RUNNING, **running(3))  # backoffLimit 2: attempt 3 is the last
    pods = [] if lost else [pod(3, "Succeeded", exit_code=0)]
    obs = observed(txn, lock=ME, pods=pods)
    for _ in range(4):  # record the loss / the missing result, remove the pod, decide again
        action = decide(obs)
        if isinstance(action, DeletePod):
            obs = dataclasses.replace(obs, pods=[])
            continue
        if not isinstance(action, SetStatus) or action.status.get("phase") != "Running":
            break
        obs = apply(obs, action)
    assert action == ReadStratum0(reflog=True)
    action = decide(dataclasses.replace(obs, stratum0=PUBLISHED))
    assert isinstance(action, SetStatus)
    assert action.status.get("phase") == "Succeeded"


def test_running_transaction_that_lost_its_lock_does_not_crash_the_decision() -> None:
    txn = transaction(Phase.RUNNING, **running(lastFailure={"attempt": 1, "reason": "Busy", "message": "b"}))
    action = decide(observed(txn, lock=OTHER, holder_alive=True, queue=[OTHER_ENTRY, ME_ENTRY]))
    assert not isinstance(action, CreatePod | BreakLock)


# --------------------------------------------------------------------------------------------
# After the end: pods, lock, TTL
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", [Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED])
def test_terminal_phase_stops_live_pods_before_releasing_the_lock(phase: Phase) -> None:
    txn = transaction(phase, attempts=1, completionTime=text_ago(10))
    assert decide(observed(txn, lock=ME, pods=[pod(1)])) == DeletePod("publisher-a1",
                                                                      f"the Transaction is {phase}")
    assert decide(observed(txn, lock=ME, pods=[pod(1, deleting=True)])) == Wait(2.0)
    assert decide(observed(txn, lock=ME, pods=[pod(1, "Failed")])) == ReleaseLock()
    assert decide(observed(txn, lock=ME)) == ReleaseLock()


def test_failed_pod_is_kept_for_its_ttl_then_deleted() -> None:
    txn = transaction(Phase.FAILED, attempts=1, completionTime=text_ago(100))
    txn["spec"]["ttlSecondsAfterFinished"] = 300
    kept = pod(1, "Failed", exit_code=6)
    assert decide(observed(txn, pods=[kept])) == Wait(200.0)
    later = observed(txn, pods=[kept], now=ago(-200))
    assert decide(later) == DeletePod("publisher-a1", "ttlSecondsAfterFinished elapsed")
    assert decide(observed(txn, now=ago(-200))) == Done()


def test_failed_pod_without_ttl_is_deleted_at_once() -> None:
    txn = transaction(Phase.FAILED, attempts=1, completionTime=text_ago(1))
    assert decide(observed(txn, pods=[pod(1, "Failed")])) == DeletePod("publisher-a1", "finished")


def test_terminal_transaction_with_nothing_left_is_done() -> None:
    assert decide(observed(transaction(Phase.FAILED, completionTime=text_ago(5)))) == Done()


def test_terminal_transaction_ignores_other_holders_and_the_queue() -> None:
    txn = transaction(Phase.SUCCEEDED, completionTime=text_ago(5))
    assert decide(observed(txn, lock=OTHER, holder_alive=False, lock_age=1e6, queue=[])) == Done()


# --------------------------------------------------------------------------------------------
# Deletion (finalizer)
# --------------------------------------------------------------------------------------------


def test_deletion_stops_live_pods_first() -> None:
    txn = transaction(Phase.RUNNING, **running(2))
    ended = PodView(name="publisher-a1", attempt=1, phase="Failed")
    obs = observed(txn, lock=ME, pods=[ended, pod(2)])
    assert decide_deletion(obs) == DeletePod("publisher-a2", "the Transaction is being deleted")


def test_deletion_waits_for_pods_to_terminate_before_releasing_the_lock() -> None:
    txn = transaction(Phase.RUNNING, **running())
    assert decide_deletion(observed(txn, lock=ME, pods=[pod(1, deleting=True)])) == Wait(1.0)


def test_deletion_releases_the_lock_then_removes_terminated_pods_then_is_done() -> None:
    txn = transaction(Phase.RUNNING, **running())
    ended = pod(1, "Failed", deleting=False)
    assert decide_deletion(observed(txn, lock=ME, pods=[ended])) == ReleaseLock()
    assert decide_deletion(observed(txn, pods=[ended])) == DeletePod("publisher-a1",
                                                                     "the Transaction is being deleted")
    assert decide_deletion(observed(txn)) == Done()


def test_deletion_of_a_queued_transaction_leaves_the_other_holder_alone() -> None:
    assert decide_deletion(observed(transaction(Phase.QUEUED, queuePosition=2), lock=OTHER)) == Done()


# --------------------------------------------------------------------------------------------
# Every SetStatus: phase transitions stay within the table
# --------------------------------------------------------------------------------------------


def test_status_decisions_never_move_a_terminal_transaction() -> None:
    for phase in (Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED):
        txn = transaction(phase, completionTime=text_ago(5))
        for obs in (observed(txn, no_repo=True), observed(txn, repo=repository(allowedNamespaces=[])),
                    observed(txn, lock=ME, pods=[pod(7, "Succeeded", termination_message=result())])):
            assert not isinstance(decide(obs), SetStatus)


def test_the_decision_is_pure() -> None:
    txn = transaction(Phase.RUNNING, **running())
    obs = observed(txn, lock=ME, pods=[pod(1, "Failed", exit_code=4, termination_message=failure("Busy"))])
    first, second = decide(obs), decide(obs)
    assert first == second
    assert status_of(obs).get("phase") == "Running"
    assert "lastFailure" not in status_of(obs)
    assert isinstance(first, decisions.SetStatus)


def test_the_lock_is_handed_to_the_next_queued_transaction_and_released_when_none_waits() -> None:
    txn = transaction(Phase.SUCCEEDED, completionTime=text_ago(1))
    pending = QueueEntry(created="2024-05-01T10:00:00Z", namespace="team-p", name="early", uid="u-p",
                         queued=False)
    waiting = [pending, OTHER_ENTRY, ME_ENTRY]
    assert decide(observed(txn, lock=ME, queue=waiting)) == ReleaseLock(OTHER_ENTRY.holder)
    assert decide(observed(txn, lock=ME, queue=[pending, ME_ENTRY])) == ReleaseLock(None)
