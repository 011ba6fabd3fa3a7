"""The next step for one RepositoryOperation, decided from observed state only (pure).

The Transaction's control loop (:mod:`reconcile.lifecycle`), for operations: the same
per-repository FIFO queue (both kinds, by creation time) and Lease lock, a pod per attempt,
retries within ``backoffLimit`` for failures that left the repository unchanged; this module is
the operation's :class:`~reconcile.lifecycle.Kind`. Before every attempt the repository is read: an operation
whose effect is already there (a rollback to the current head, a tag where it should be, a tag
to remove that is gone) ends ``Succeeded`` with reason ``AlreadyDone`` (``Recovered`` after an
attempt that left no result), and an operation that signs a manifest or re-hashes the reflog
(rollback, tag, gc) passes the reflog check of publishing (:mod:`reconcile.reflog`) first.
A terminal phase is never left: a finished operation is never run again.
"""

from __future__ import annotations

from typing import Any

from cvmfs_operator.api import operations
from cvmfs_operator.api.operation_contract import OperationErrorClass, OperationResult
from cvmfs_operator.api.phases import Phase
from cvmfs_operator.reconcile import lifecycle, operation_results, reflog, timeline
from cvmfs_operator.reconcile.actions import (
    Action,
    CreatePod,
    ReadStratum0,
    Wait,
)
from cvmfs_operator.reconcile.observed import PodView, rfc3339
from cvmfs_operator.reconcile.operation_status import RECORD_FIELD, OperationObserved, record, set_status
from cvmfs_operator.reconcile.status import Desired, contradicted, unconfirmed

REFLOG_GATED = frozenset({"rollback", "tag", "gc"})  # sign a manifest or re-hash the reflog
DONE_REASONS = {"rollback": "RolledBack", "tag": "Tagged", "resign": "Resigned", "gc": "GarbageCollected",
                "check": "CheckPassed"}


def refuse_invalid(obs: OperationObserved, errors: list[str]) -> Action:
    return lifecycle.refuse_invalid(KIND, obs, errors)


def decide(obs: OperationObserved) -> Action:
    return lifecycle.decide(KIND, obs)


def decide_deletion(obs: OperationObserved) -> Action:
    """Being deleted: stop its pods, then release the lock once they are gone."""
    return lifecycle.decide_deletion(KIND, obs)


def _result_fields(result: OperationResult) -> dict[str, Any]:
    fields: dict[str, Any] = {"revisionBefore": result["revisionBefore"],
                              "durations": dict(result["durations"])}
    if result["gc"] is not None:
        # cvmfs reports no catalog or byte counts (docs/publisher-contract.md): those stay unset.
        fields["gc"] = {"dryRun": result["gc"]["dryRun"], "condemnedObjects": result["gc"]["objectsDeleted"]}
    if result["check"] is not None:
        fields["check"] = {"passed": result["check"]["passed"], "revision": result["revisionBefore"],
                           "problems": list(result["check"]["findings"])[:10]}
    return fields


def _repository_fields(obs: OperationObserved, result: OperationResult | None, succeeded: bool,
                       ) -> dict[str, Any] | None:
    """What the Repository records: a new revision and reflog checksum (rollback, tag, gc) and the
    last resign, gc and check."""
    fields: dict[str, Any] = {}
    if succeeded and result is not None:
        if result["revisionAfter"] is not None and result["rootHash"]:
            fields.update({"revision": result["revisionAfter"], "rootHash": result["rootHash"]})
            if obs.kind == "rollback":
                fields["lastPublishTime"] = rfc3339(obs.now)
        if result["reflogChecksum"] and obs.kind in REFLOG_GATED:
            fields["reflogChecksum"] = result["reflogChecksum"]
            fields["reflogRevision"] = result["revisionAfter"] or result["revisionBefore"]
        if result["whitelistExpiry"]:
            fields["whitelistExpiresAt"] = result["whitelistExpiry"]
    if obs.kind in RECORD_FIELD:
        fields[RECORD_FIELD[obs.kind]] = record(obs, "Succeeded" if succeeded else "Failed")
    return fields or None


def _verify(obs: OperationObserved, pod: PodView, result: OperationResult, log_tail: list[str],
            ) -> Action | None:
    """The head a successful pod reported, checked against the repository's manifest before the
    Repository records it (as a Transaction's tag is checked): the lock is still held, so the
    manifest must show exactly that revision and root catalog. None when it does, or when the pod
    reported no head (it could not read the manifest)."""
    if result["revisionAfter"] is None or not result["rootHash"]:
        return None
    s0 = obs.stratum0
    if s0 is None:
        return ReadStratum0(purpose="verify")
    reported = f"revision {result['revisionAfter']} (root catalog {result['rootHash'][:12]})"
    if s0.error:
        want = unconfirmed(f"operation pod {pod.name}", reported, s0.error)
        return set_status(obs, want, want.message, warning=True) or Wait(max(obs.reconcile_interval, 5.0))
    if s0.revision == result["revisionAfter"] and s0.root_hash == result["rootHash"]:
        return None
    message = (f"operation pod {pod.name} reported {reported}, but the repository's manifest shows "
               f"revision {s0.revision} (root catalog {(s0.root_hash or 'none')[:12]})")
    want = contradicted(message, now=obs.now, pod=pod.name, log_tail=log_tail)
    return set_status(obs, want, message, warning=True) or Wait(obs.reconcile_interval)


def _record(obs: OperationObserved, pod: PodView) -> Action:
    outcome = operation_results.classify(pod)
    result = outcome.result
    fields: dict[str, Any] = {"logTail": outcome.log_tail, "podName": pod.name}
    if result is not None:
        fields.update(_result_fields(result))
    fields["timeline"] = timeline.timeline(obs.operation["metadata"].get("creationTimestamp"), pod, obs.now,
                                           None)
    if outcome.succeeded and result is not None:
        check = _verify(obs, pod, result, outcome.log_tail)
        if check is not None:
            return check
        fields.update({"revisionAfter": result["revisionAfter"], "rootHash": result["rootHash"],
                       "reflogChecksum": result["reflogChecksum"],
                       "whitelistExpiresAt": result["whitelistExpiry"], "completionTime": rfc3339(obs.now)})
        want = Desired(Phase.SUCCEEDED, DONE_REASONS.get(obs.kind, "Succeeded"), outcome.message, fields)
        return set_status(obs, want, outcome.message, repository=_repository_fields(obs, result, True)) \
            or Wait(obs.reconcile_interval)
    if outcome.cancelled:
        fields["completionTime"] = rfc3339(obs.now)
        want = Desired(Phase.CANCELLED, outcome.reason, outcome.message, fields)
        return set_status(obs, want, outcome.message, warning=True) or Wait(obs.reconcile_interval)
    fields["lastFailure"] = {"attempt": pod.attempt, "reason": outcome.reason, "message": outcome.message}
    if outcome.reason == OperationErrorClass.REFLOG_MISMATCH.value:
        message = (f"attempt {pod.attempt}: cvmfs refused ({outcome.message}); checking the repository's "
                   "reflog before anything else")
        want = Desired(Phase.RUNNING, "ReflogMismatch", message, fields)
        return set_status(obs, want, message, warning=True) or Wait(obs.reconcile_interval)
    limit = operations.backoff_limit(obs.operation)
    if outcome.retryable:
        left = "retrying" if pod.attempt <= limit else "no retries left, checking the repository"
        message = (f"attempt {pod.attempt} failed ({outcome.message}); {left} "
                   f"({pod.attempt}/{limit} retries used)")
        want = Desired(Phase.RUNNING, "Retrying", message, fields)
        return set_status(obs, want, message, warning=True) or Wait(obs.reconcile_interval)
    fields["completionTime"] = rfc3339(obs.now)
    want = Desired(Phase.FAILED, outcome.reason, outcome.message, fields)
    return set_status(obs, want, outcome.message, warning=True,
                      repository=_repository_fields(obs, result, False)) or Wait(obs.reconcile_interval)


def _already_done(obs: OperationObserved) -> str | None:
    """Why the repository already shows this operation's effect (read just now), or None."""
    s0 = obs.stratum0
    assert s0 is not None
    spec: Any = obs.operation["spec"].get(obs.kind) or {}
    if obs.kind == "rollback" and s0.tag_revision is not None and s0.tag_revision == s0.revision:
        return f"tag {spec.get('tag')} is the current revision {s0.revision}: nothing to roll back"
    if obs.kind == "tag":
        name, action = spec.get("name"), spec.get("action")
        if action == "remove" and s0.tag_revision is None:
            return f"tag {name} is not in the repository"
        target = spec.get("revision", s0.revision)
        if action in ("add", "move") and s0.tag_revision is not None and s0.tag_revision == target \
                and ("revision" in spec or s0.tag_hash == s0.root_hash):
            return f"tag {name} already names revision {target}"
    return None


def _start_attempt(obs: OperationObserved, phase: Phase, attempts: int, exhausted: bool) -> Action:
    s0 = obs.stratum0
    if s0 is None or not s0.reflog_read:
        return ReadStratum0(reflog=True)
    waiting = Phase.RUNNING if phase is Phase.RUNNING else Phase.QUEUED
    if s0.error:
        want = Desired(waiting, "Stratum0Unreachable",
                       f"cannot read repository {obs.fqrn} before the {obs.kind}, will retry: {s0.error}",
                       {"queuePosition": None})
        return set_status(obs, want, want.message, warning=True) or Wait(max(obs.reconcile_interval, 5.0))
    done = _already_done(obs)
    if done is not None:
        reason = "AlreadyDone" if attempts == 0 else "Recovered"
        message = done if attempts == 0 else f"attempt {attempts} left no result, but {done}"
        want = Desired(Phase.SUCCEEDED, reason, message, {
            "revisionBefore": s0.revision, "revisionAfter": s0.revision, "rootHash": s0.root_hash,
            "queuePosition": None, "completionTime": rfc3339(obs.now)})
        return set_status(obs, want, message) or Wait(obs.reconcile_interval)
    if exhausted:
        failure = lifecycle.last_failure(obs)
        want = Desired(Phase.FAILED, str(failure.get("reason", "Failed")),
                       f"gave up after {attempts} attempts: {failure.get('message', '')!s}",
                       {"completionTime": rfc3339(obs.now)})
        return set_status(obs, want, want.message, warning=True,
                          repository=_repository_fields(obs, None, False)) or Wait(obs.reconcile_interval)
    assert obs.repository is not None
    decision = reflog.decide(obs.repository, s0, now=rfc3339(obs.now))
    if isinstance(decision, reflog.Mismatch):
        if obs.kind in REFLOG_GATED:
            return lifecycle.reflog_refused(KIND, obs, decision, waiting)
        return CreatePod(attempts + 1, s0.bucket_reflog)  # resign and check touch no reflog
    return CreatePod(attempts + 1, decision.checksum)


def _refusal(obs: OperationObserved) -> Desired | None:
    repo = obs.repository
    assert repo is not None
    namespace_refused = lifecycle.namespace_refusal(obs, exempt=obs.operator_namespace)
    if namespace_refused is not None:
        return namespace_refused
    refused = operations.refusal(obs.kind, repo)
    if refused is not None:
        return Desired(Phase.FAILED, refused[0], refused[1])
    return None


KIND = lifecycle.Kind[OperationObserved](
    noun="RepositoryOperation", pod="operation pod", adopted_reason="Running", deleted_while="",
    set_status=set_status, timeout_seconds=operations.timeout_seconds, backoff_limit=operations.backoff_limit,
    refusal=_refusal, start_attempt=_start_attempt, record=_record, retention=lambda obs, phase: None)
