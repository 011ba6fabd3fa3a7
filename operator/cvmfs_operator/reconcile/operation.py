"""The next step for one RepositoryOperation, decided from observed state only (pure).

The Transaction's control loop, for operations: the same per-repository FIFO queue (both kinds,
by creation time) and Lease lock, a pod per attempt, retries within ``backoffLimit`` for failures
that left the repository unchanged. Before every attempt the repository is read: an operation
whose effect is already there (a rollback to the current head, a tag where it should be, a tag
to remove that is gone) ends ``Succeeded`` with reason ``AlreadyDone`` (``Recovered`` after an
attempt that left no result), and an operation that signs a manifest or re-hashes the reflog
(rollback, tag, gc) passes the reflog check of publishing (:mod:`reconcile.reflog`) first.
A terminal phase is never left: a finished operation is never run again.
"""

from __future__ import annotations

from typing import Any

from cvmfs_operator.api import operations, phases, validation
from cvmfs_operator.api.operation_contract import OperationErrorClass, OperationResult
from cvmfs_operator.api.phases import Phase
from cvmfs_operator.reconcile import operation_results, queueing, reflog, timeline
from cvmfs_operator.reconcile.actions import (
    AcquireLock,
    Action,
    CreatePod,
    DeletePod,
    Done,
    ReadStratum0,
    ReleaseLock,
    Wait,
)
from cvmfs_operator.reconcile.observed import PodView, parse_time, rfc3339
from cvmfs_operator.reconcile.operation_status import RECORD_FIELD, OperationObserved, record, set_status
from cvmfs_operator.reconcile.status import Desired, contradicted, unconfirmed
from cvmfs_operator.reconcile.transaction import DEADLINE_GRACE_SECONDS

REFLOG_GATED = frozenset({"rollback", "tag", "gc"})  # sign a manifest or re-hash the reflog
DONE_REASONS = {"rollback": "RolledBack", "tag": "Tagged", "resign": "Resigned", "gc": "GarbageCollected",
                "check": "CheckPassed"}


def refuse_invalid(obs: OperationObserved, errors: list[str]) -> Action:
    phase = phases.parse((obs.operation.get("status") or {}).get("phase"))
    if phase.terminal:
        return Done()
    message = "; ".join(errors)
    want = Desired(Phase.FAILED, "InvalidSpec", message, {"completionTime": rfc3339(obs.now)})
    return set_status(obs, want, f"Refused: {message}", warning=True) or Done()


def decide(obs: OperationObserved) -> Action:
    current = obs.operation.get("status") or {}
    phase = phases.parse(current.get("phase"))
    if phase.terminal:
        return _after_finish(obs, phase)
    latest = max(obs.pods, key=lambda p: p.attempt) if obs.pods else None
    attempts = int(current.get("attempts") or 0)
    if latest is not None and latest.attempt > attempts:
        return _adopt(obs, latest)
    if latest is not None and not latest.terminated:
        return _watch_running(obs, latest)
    if latest is not None and latest.attempt == attempts and _last_failure(obs).get("attempt") != attempts:
        return _record(obs, latest)
    for pod in obs.pods:  # pods of recorded failed attempts are not kept while retrying
        if pod.deleting:
            return Wait(min(1.0, obs.reconcile_interval))
        return DeletePod(pod.name, f"attempt {pod.attempt} ended and was recorded")
    return _start_or_queue(obs, phase, attempts)


def decide_deletion(obs: OperationObserved) -> Action:
    """Being deleted: stop its pods, then release the lock once they are gone."""
    for pod in obs.pods:
        if not pod.terminated and not pod.deleting:
            return DeletePod(pod.name, "the RepositoryOperation is being deleted")
    if any(not pod.terminated for pod in obs.pods):
        return Wait(1.0)
    if obs.holds_lock:
        return ReleaseLock(queueing.successor(obs))
    for pod in obs.pods:
        if pod.deleting:
            return Wait(1.0)
        return DeletePod(pod.name, "the RepositoryOperation is being deleted")
    return Done()


def _last_failure(obs: OperationObserved) -> dict[str, Any]:
    return dict((obs.operation.get("status") or {}).get("lastFailure") or {})


def _adopt(obs: OperationObserved, pod: PodView) -> Action:
    started = (obs.operation.get("status") or {}).get("startTime") or rfc3339(pod.created or obs.now)
    want = Desired(Phase.RUNNING, "Running", f"operation pod {pod.name} (attempt {pod.attempt})",
                   {"attempts": pod.attempt, "podName": pod.name, "queuePosition": None,
                    "startTime": started})
    return set_status(obs, want) or Wait(obs.reconcile_interval)


def _watch_running(obs: OperationObserved, pod: PodView) -> Action:
    start = pod.created or parse_time((obs.operation.get("status") or {}).get("startTime"))
    limit = operations.timeout_seconds(obs.operation) + DEADLINE_GRACE_SECONDS
    if start is not None and (obs.now - start).total_seconds() > limit and not pod.deleting:
        want = Desired(Phase.FAILED, "DeadlineExceeded",
                       f"operation pod {pod.name} did not finish within spec.timeoutSeconds",
                       {"completionTime": rfc3339(obs.now), "podName": pod.name})
        return set_status(obs, want, want.message, warning=True) or Wait(obs.reconcile_interval)
    return Wait(obs.reconcile_interval)


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
        return ReadStratum0()
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


def _start_attempt(obs: OperationObserved, phase: Phase, attempts: int, *, exhausted: bool) -> Action:
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
        failure = _last_failure(obs)
        want = Desired(Phase.FAILED, str(failure.get("reason", "Failed")),
                       f"gave up after {attempts} attempts: {failure.get('message', '')!s}",
                       {"completionTime": rfc3339(obs.now)})
        return set_status(obs, want, want.message, warning=True,
                          repository=_repository_fields(obs, None, False)) or Wait(obs.reconcile_interval)
    assert obs.repository is not None
    decision = reflog.decide(obs.repository, s0, now=rfc3339(obs.now))
    if isinstance(decision, reflog.Mismatch):
        if obs.kind in REFLOG_GATED:
            want = Desired(waiting, "ReflogMismatch", decision.message, {"queuePosition": None})
            recorded: dict[str, Any] = dict((obs.repository.get("status") or {}).get("reflogMismatch") or {})
            known = (recorded.get("expected"), recorded.get("found")) == (
                decision.record["expected"], decision.record["found"])
            action = set_status(obs, want, decision.message, warning=True,
                                repository=None if known else {"reflogMismatch": decision.record})
            return action or Wait(max(obs.reconcile_interval, 5.0))
        return CreatePod(attempts + 1, s0.bucket_reflog)  # resign and check touch no reflog
    return CreatePod(attempts + 1, decision.checksum)


def _refusal(obs: OperationObserved) -> Desired | None:
    repo = obs.repository
    assert repo is not None
    namespace = obs.operation["metadata"]["namespace"]
    allowed = repo["spec"].get("allowedNamespaces", [])
    if namespace != obs.operator_namespace and "*" not in allowed and namespace not in allowed:
        return Desired(Phase.FAILED, "NamespaceNotAllowed",
                       f"Repository {obs.fqrn} does not list namespace {namespace!r} in "
                       "spec.allowedNamespaces")
    refused = operations.refusal(obs.kind, repo)
    if refused is not None:
        return Desired(Phase.FAILED, refused[0], refused[1])
    return None


def _start_or_queue(obs: OperationObserved, phase: Phase, attempts: int) -> Action:
    if obs.repository is None:
        if phase is Phase.RUNNING:
            want = Desired(Phase.FAILED, "RepositoryNotFound", f"Repository {obs.fqrn} was deleted",
                           {"completionTime": rfc3339(obs.now)})
            return set_status(obs, want, want.message, warning=True) or ReleaseLock(queueing.successor(obs))
        want = Desired(Phase.PENDING, "RepositoryNotFound",
                       f"waiting for Repository {obs.fqrn}, which does not exist", {"queuePosition": None})
        return set_status(obs, want, want.message, warning=True) or Wait(obs.reconcile_interval)
    repo_errors = validation.repository_errors(obs.repository)
    if repo_errors:
        want = Desired(Phase.RUNNING if phase is Phase.RUNNING else Phase.PENDING, "RepositoryInvalid",
                       f"Repository {obs.fqrn} is invalid: {'; '.join(repo_errors)}", {"queuePosition": None})
        return set_status(obs, want, want.message, warning=True) or Wait(obs.reconcile_interval)
    refusal = _refusal(obs)
    if refusal is not None:
        refusal.fields["completionTime"] = rfc3339(obs.now)
        return set_status(obs, refusal, refusal.message, warning=True) or Wait(obs.reconcile_interval)
    if attempts > 0 and _last_failure(obs).get("attempt") != attempts:
        message = f"operation pod of attempt {attempts} disappeared without a result"
        lost = {"attempt": attempts, "reason": "PodLost", "message": message}
        want = Desired(Phase.RUNNING, "PodLost", message, {"lastFailure": lost})
        return set_status(obs, want, message, warning=True) or Wait(obs.reconcile_interval)
    exhausted = attempts > operations.backoff_limit(obs.operation)
    if obs.holds_lock:
        return _start_attempt(obs, phase, attempts, exhausted=exhausted)
    if phase is Phase.RUNNING:
        if obs.lock_holder is None:
            return AcquireLock()
        want = Desired(Phase.RUNNING, "LockLost", f"the lock of repository {obs.fqrn} is held by "
                       f"{obs.lock_holder.rsplit('/', 1)[0]}; waiting to take it back")
        return set_status(obs, want, want.message, warning=True) or Wait(obs.reconcile_interval)
    position = queueing.queue_step(obs)
    if not isinstance(position, int):
        return position
    if not queueing.position_stale(obs.operation, phase, position):
        return Wait(queueing.queued_wait(obs))
    holder = "" if obs.lock_holder is None else f" behind {obs.lock_holder.rsplit('/', 1)[0]}"
    want = Desired(Phase.QUEUED, "Queued", f"position {position} in the queue of {obs.fqrn}{holder}",
                   {"queuePosition": position})
    return set_status(obs, want) or Wait(queueing.queued_wait(obs))


def _after_finish(obs: OperationObserved, phase: Phase) -> Action:
    live = [p for p in obs.pods if not p.terminated]
    for pod in live:
        if not pod.deleting:
            return DeletePod(pod.name, f"the RepositoryOperation is {phase}")
    if live:
        return Wait(min(2.0, obs.reconcile_interval))  # the lock is released only once pods are gone
    if obs.holds_lock:
        return ReleaseLock(queueing.successor(obs))
    for pod in obs.pods:
        if pod.deleting:
            return Wait(min(2.0, obs.reconcile_interval))
        return DeletePod(pod.name, "finished")
    return Done()
