"""The next step for one Transaction, decided from observed state only.

Level-triggered: ``decide`` looks at the Transaction, its Repository, the repository lock, the
publisher pods and the queue, and returns the single next action. The handler performs it,
observes again and repeats until the answer is :class:`Wait` or :class:`Done`. Every action is
idempotent, so a restarted operator resumes from whatever the API server holds. The steps a
RepositoryOperation shares are in :mod:`reconcile.lifecycle`; this module is the Transaction's
:class:`~reconcile.lifecycle.Kind` (exactly-once by tag, the publish's result and its checks).
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from cvmfs_operator.api import contract, inert, phases
from cvmfs_operator.api.phases import Phase
from cvmfs_operator.reconcile import lifecycle, queueing, reflog, results, timeline
from cvmfs_operator.reconcile.actions import (
    AcquireLock,
    Action,
    BreakLock,
    CreatePod,
    DeletePod,
    Done,
    ReadStratum0,
    ReleaseLock,
    SetStatus,
    Wait,
)
from cvmfs_operator.reconcile.lifecycle import DEADLINE_GRACE_SECONDS
from cvmfs_operator.reconcile.observed import Observed, PodView, parse_time, rfc3339
from cvmfs_operator.reconcile.queueing import QUEUED_BACKOFF, QUEUED_SAFETY_NET
from cvmfs_operator.reconcile.status import Desired, contradicted, go_duration, set_status, unconfirmed
from cvmfs_operator.render import transaction as effective

__all__ = [
    "DEADLINE_GRACE_SECONDS", "QUEUED_BACKOFF", "QUEUED_SAFETY_NET", "STALE_LOCK_SECONDS", "AcquireLock",
    "Action",
    "BreakLock", "CreatePod", "DeletePod", "Done", "ReadStratum0", "ReleaseLock", "SetStatus", "Wait",
    "decide", "decide_deletion", "go_duration", "needs_attention", "refuse_invalid",
]

STALE_LOCK_SECONDS = 60.0  # the default of Observed.stale_lock_seconds


def refuse_invalid(obs: Observed, errors: list[str]) -> Action:
    """A Transaction whose spec is malformed fails at once, naming every offending field."""
    return lifecycle.refuse_invalid(KIND, obs, errors)


def decide(obs: Observed) -> Action:
    action = lifecycle.decide(KIND, obs)
    if isinstance(action, SetStatus) and _hands_over_first(obs, action):
        return dataclasses.replace(action, hand_over=True)
    return action


def _hands_over_first(obs: Observed, action: SetStatus) -> bool:
    """A final status of the lock holder, none of whose pods still runs: nothing is left for the
    lock to protect, so it is handed on right after the Repository has recorded the result and
    before this status write, one request less before the next Transaction's pod. A crash in
    between is safe: the result is recorded again from the ended pod (without the lock, which only
    guards pods), and the Repository record that the next one's reflog check needs came first."""
    terminal = phases.parse(action.status.get("phase")).terminal
    return terminal and obs.holds_lock and all(pod.terminated for pod in obs.pods)


def _record(obs: Observed, pod: PodView) -> Action:
    outcome = results.classify(pod)
    txn = obs.transaction
    result = outcome.result
    fields: dict[str, Any] = {"logTail": outcome.log_tail, "podName": pod.name}
    verification = obs.stratum0.read_seconds if obs.stratum0 is not None else None
    if result is not None:
        fields.update({
            "revisionBefore": result["revisionBefore"],
            "durations": dict(result["durations"]),
        })
    if outcome.succeeded and result is not None:
        check = _verify(obs, pod, result)
        if check is not None:
            return check
    fields["timeline"] = timeline.timeline(txn["metadata"].get("creationTimestamp"), pod, obs.now,
                                           verification if outcome.succeeded else None)
    if outcome.succeeded and result is not None:
        fields.update({
            "revisionAfter": result["revisionAfter"],
            "rootHash": result["rootHash"],
            "reflogChecksum": result["reflogChecksum"],
            "completionTime": rfc3339(obs.now),
        })
        repo_fields = {
            "revision": result["revisionAfter"],
            "rootHash": result["rootHash"],
            "lastPublishTime": rfc3339(obs.now),
        }
        if result["reflogChecksum"]:
            repo_fields["reflogChecksum"] = result["reflogChecksum"]
            repo_fields["reflogRevision"] = result["revisionAfter"]
        want = Desired(Phase.SUCCEEDED, outcome.reason, outcome.message, fields)
        event = f"Published revision {result['revisionAfter']}"
        # Recorded on the Repository by the lock's holder only (or with the lock free): one that
        # handed the lock on had recorded it first, and writing it again then (after a conflict
        # or a restart) could overwrite the next holder's newer publish; nor over a newer revision.
        known = (obs.repository.get("status") or {}).get("revision") if obs.repository else None
        after = result["revisionAfter"]
        newer = isinstance(known, int) and isinstance(after, int) and known > after
        recorder = (obs.holds_lock or obs.lock_holder is None) and not newer
        return set_status(obs, want, event, repository=repo_fields if recorder else None) \
            or Wait(obs.reconcile_interval)
    if outcome.cancelled:
        fields["completionTime"] = rfc3339(obs.now)
        want = Desired(Phase.CANCELLED, outcome.reason, outcome.message, fields)
        return set_status(obs, want, outcome.message, warning=True) or Wait(obs.reconcile_interval)
    fields["lastFailure"] = {"attempt": pod.attempt, "reason": outcome.reason, "message": outcome.message}
    if outcome.reason == contract.ErrorClass.REFLOG_MISMATCH.value:
        # cvmfs refused to sign: never retried blindly. The next start is gated by the reflog check
        # (reflog.decide), which waits for an administrator's acknowledgement of the bucket's state.
        message = (f"attempt {pod.attempt}: cvmfs refused to sign ({outcome.message}); checking the "
                   "repository's reflog before anything else")
        want = Desired(Phase.RUNNING, "ReflogMismatch", message, fields)
        return set_status(obs, want, want.message, warning=True) or Wait(obs.reconcile_interval)
    if outcome.retryable:
        # Whether this attempt published is decided from the repository before anything else.
        if pod.attempt <= effective.backoff_limit(txn):
            message = (f"attempt {pod.attempt} failed ({outcome.message}); retrying "
                       f"({pod.attempt}/{effective.backoff_limit(txn)} retries used)")
        else:
            message = (f"attempt {pod.attempt} failed ({outcome.message}); no retries left, checking "
                       "the repository before giving up")
        want = Desired(Phase.RUNNING, "Retrying", message, fields)
        return set_status(obs, want, want.message, warning=True) or Wait(obs.reconcile_interval)
    fields["completionTime"] = rfc3339(obs.now)
    want = Desired(Phase.FAILED, outcome.reason, outcome.message, fields)
    return set_status(obs, want, outcome.message, warning=True) or Wait(obs.reconcile_interval)


def _verify(obs: Observed, pod: PodView, result: contract.PublisherResult) -> Action | None:
    """Cross-check a reported publish against the repository; None when it checks out."""
    s0 = obs.stratum0
    if s0 is None:
        # With someone waiting for the lock, the read serves as theirs too (the bucket's reflog
        # and the tag database: handlers/handover.py).
        return ReadStratum0(reflog=queueing.successor(obs) is not None, purpose="verify")
    tag = effective.effective_tag(obs.transaction)
    if s0.error:
        want = unconfirmed(f"publisher pod {pod.name}", f"revision {result['revisionAfter']}", s0.error)
        return set_status(obs, want, want.message, warning=True) or Wait(max(obs.reconcile_interval, 5.0))
    if s0.tag_revision == result["revisionAfter"] and s0.tag_hash == result["rootHash"]:
        return None
    seen = "no such tag" if s0.tag_revision is None else f"tag at revision {s0.tag_revision}"
    message = (f"publisher pod {pod.name} reported revision {result['revisionAfter']} tagged {tag}, "
               f"but the repository shows {seen} (manifest revision {s0.revision})")
    want = contradicted(message, now=obs.now, pod=pod.name, log_tail=results.tail(list(result["logTail"])))
    return set_status(obs, want, message, warning=True) or Wait(obs.reconcile_interval)


def _start_attempt(obs: Observed, phase: Phase, attempts: int, exhausted: bool) -> Action:
    """Exactly-once: before any attempt, ask the repository whether the tag is already there."""
    s0 = obs.stratum0
    if s0 is None or not s0.reflog_read:
        return ReadStratum0(reflog=True)
    txn = obs.transaction
    tag = effective.effective_tag(txn)
    fqrn = txn["spec"]["repository"]
    if s0.error:
        waiting = Phase.RUNNING if phase is Phase.RUNNING else Phase.QUEUED
        want = Desired(waiting, "Stratum0Unreachable",
                        f"cannot read repository {fqrn} before publishing, will retry: {s0.error}",
                        {"queuePosition": None})
        return set_status(obs, want, want.message, warning=True) or Wait(max(obs.reconcile_interval, 5.0))
    if s0.tag_revision is not None:
        if attempts == 0:
            reason = "AlreadyPublished"
            message = (f"tag {tag} already exists in {fqrn} (revision {s0.tag_revision}); "
                       "not published again")
        else:
            reason = "Recovered"
            message = (f"attempt {attempts} published revision {s0.tag_revision} as tag {tag}: "
                       "found in the repository although its pod left no result")
        want = Desired(Phase.SUCCEEDED, reason, message, {
            "revisionAfter": s0.tag_revision, "rootHash": s0.tag_hash, "queuePosition": None,
            "completionTime": rfc3339(obs.now)})
        return set_status(obs, want, message) or Wait(obs.reconcile_interval)
    if exhausted:
        failure = lifecycle.last_failure(obs)
        want = Desired(Phase.FAILED, str(failure.get("reason", "Failed")),
                        f"gave up after {attempts} attempts: {failure.get('message', '')!s}",
                        {"completionTime": rfc3339(obs.now)})
        return set_status(obs, want, want.message, warning=True) or Wait(obs.reconcile_interval)
    assert obs.repository is not None
    decision = reflog.decide(obs.repository, s0, now=rfc3339(obs.now))
    if isinstance(decision, reflog.Mismatch):
        waiting = Phase.RUNNING if phase is Phase.RUNNING else Phase.QUEUED
        return lifecycle.reflog_refused(KIND, obs, decision, waiting)
    return CreatePod(attempts + 1, decision.checksum)


def _refusal(obs: Observed) -> Desired | None:
    """Checks a Transaction must pass before it may queue; reasons name the offending field."""
    txn, repo = obs.transaction, obs.repository
    assert repo is not None
    fqrn = repo["metadata"]["name"]
    refused = lifecycle.namespace_refusal(obs)
    if refused is not None:
        return refused
    kind = effective.payload_kind(txn)
    if kind is None:
        return Desired(Phase.FAILED, "InvalidPayload",
                        "spec.payload must set exactly one of tarball, stage, remove, script")
    publisher = repo["spec"].get("publisher", {})
    if kind == "script" and not publisher.get("allowScripts", False):
        return Desired(Phase.FAILED, "ScriptsNotAllowed",
                        f"spec.payload.script is refused: Repository {fqrn} does not set "
                        "spec.publisher.allowScripts")
    if "gateway" in repo["spec"]["stratum0"]:
        problem = inert.gateway_path_error(effective.effective_path(txn))
        if problem:
            return Desired(Phase.FAILED, "InvalidPath",
                            f"spec.path {problem}: Repository {fqrn} publishes through a gateway, "
                            "where the path is the lease path cvmfs_server passes through the shell")
    if kind == "tarball" and txn["spec"]["payload"]["tarball"]["url"].startswith("s3://") \
            and "s3" not in repo["spec"]["stratum0"]:
        return Desired(Phase.FAILED, "InvalidPayload",
                        f"spec.payload.tarball.url is an s3:// URL but Repository {fqrn} has no S3 storage")
    return None


def _retention(obs: Observed, phase: Phase) -> float | None:
    """A failed or cancelled Transaction's pod is kept ``ttlSecondsAfterFinished`` for its logs."""
    ttl = effective.ttl_after_finished(obs.transaction)
    if phase is Phase.SUCCEEDED or ttl is None:
        return None
    finished = parse_time(obs.transaction.get("status", {}).get("completionTime")) or obs.now
    return (finished + datetime.timedelta(seconds=ttl) - obs.now).total_seconds()


KIND = lifecycle.Kind[Observed](
    noun="Transaction", pod="publisher pod", adopted_reason="Publishing", deleted_while=" while publishing",
    set_status=set_status, timeout_seconds=effective.timeout_seconds, backoff_limit=effective.backoff_limit,
    refusal=_refusal, start_attempt=_start_attempt, record=_record, retention=_retention)


def decide_deletion(obs: Observed) -> Action:
    """The Transaction is being deleted: stop its pods, then release the lock once they are gone."""
    return lifecycle.decide_deletion(KIND, obs)


CLEANUP_WINDOW_SECONDS = 3600.0  # after this (plus the TTL) a finished Transaction needs no watcher


def needs_attention(status: dict[str, Any], spec: dict[str, Any], now: datetime.datetime) -> bool:
    """Whether a Transaction still needs its daemon: unfinished, or finished recently enough that
    a kept pod or the lock may still have to be cleaned up. GitOps keeps finished Transactions
    forever; without this an operator restart would start one daemon per Transaction ever made."""
    try:
        phase = phases.parse(status.get("phase"))
    except phases.IllegalTransition:
        return True
    if not phase.terminal:
        return True
    finished = parse_time(status.get("completionTime"))
    if finished is None:
        return True
    ttl = spec.get("ttlSecondsAfterFinished")
    keep = (ttl if isinstance(ttl, int) and not isinstance(ttl, bool) else 0) + CLEANUP_WINDOW_SECONDS
    return (now - finished).total_seconds() < keep
