"""The control loop both kinds share, decided from observed state only (pure).

A Transaction and a RepositoryOperation live the same life: one object, a pod per attempt, the
repository's FIFO queue and Lease lock (:mod:`reconcile.queueing`), retries within
``backoffLimit``, and a terminal phase that is never left. What differs is a :class:`Kind`: how
an attempt starts (the exactly-once and reflog checks of each), how an ended pod's result is
recorded, which checks refuse the object before it queues, and the words in its messages. The
steps here are the rest: adopt a pod the status does not know, watch a running one against its
deadline, clear recorded pods, queue or take the lock, and clean up once finished or deleted.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from cvmfs_operator.api import phases, validation
from cvmfs_operator.api.phases import Phase
from cvmfs_operator.api.types import Repository
from cvmfs_operator.reconcile import queueing, reflog
from cvmfs_operator.reconcile.actions import (
    AcquireLock,
    Action,
    DeletePod,
    Done,
    ReleaseLock,
    SetStatus,
    Wait,
)
from cvmfs_operator.reconcile.observed import PodView, parse_time, rfc3339
from cvmfs_operator.reconcile.status import Desired

DEADLINE_GRACE_SECONDS = 120.0  # the kubelet enforces activeDeadlineSeconds; this catches stuck pods


class Subject(queueing.LockView, Protocol):
    """What the shared steps read of an observation (either kind's)."""

    @property
    def subject(self) -> Mapping[str, Any]: ...  # the Transaction or RepositoryOperation
    @property
    def fqrn(self) -> str: ...
    @property
    def repository(self) -> Repository | None: ...
    @property
    def pods(self) -> Sequence[PodView]: ...
    @property
    def now(self) -> datetime.datetime: ...
    @property
    def holds_lock(self) -> bool: ...


Obs = TypeVar("Obs", bound=Subject)
ObsContra = TypeVar("ObsContra", bound=Subject, contravariant=True)


class StatusWriter(Protocol[ObsContra]):
    def __call__(self, obs: ObsContra, want: Desired, event: str | None = None, *, warning: bool = False,
                 repository: dict[str, Any] | None = None) -> SetStatus | None: ...


@dataclass(frozen=True)
class Kind(Generic[Obs]):
    noun: str  # "Transaction"
    pod: str  # "publisher pod"
    adopted_reason: str  # the reason while its pod runs
    deleted_while: str  # how "Repository X was deleted" ends while it runs
    set_status: StatusWriter[Obs]
    timeout_seconds: Callable[[Any], int]  # of the object
    backoff_limit: Callable[[Any], int]
    refusal: Callable[[Obs], Desired | None]  # why it may not queue (the Repository's checks)
    start_attempt: Callable[[Obs, Phase, int, bool], Action]  # (obs, phase, attempts, exhausted), locked
    record: Callable[[Obs, PodView], Action]  # the latest attempt's pod ended: record its result
    retention: Callable[[Obs, Phase], float | None]  # seconds a finished pod is still kept; None: not kept


def status_of(obs: Subject) -> Mapping[str, Any]:
    return obs.subject.get("status") or {}


def last_failure(obs: Subject) -> dict[str, Any]:
    return dict(status_of(obs).get("lastFailure") or {})


def refuse_invalid(kind: Kind[Obs], obs: Obs, errors: list[str]) -> Action:
    """A malformed spec fails at once, naming every offending field."""
    if phases.parse(status_of(obs).get("phase")).terminal:
        return Done()
    message = "; ".join(errors)
    want = Desired(Phase.FAILED, "InvalidSpec", message, {"completionTime": rfc3339(obs.now)})
    return kind.set_status(obs, want, f"Refused: {message}", warning=True) or Done()


def decide(kind: Kind[Obs], obs: Obs) -> Action:
    current = status_of(obs)
    phase = phases.parse(current.get("phase"))
    if phase.terminal:
        return _after_finish(kind, obs, phase)
    latest = max(obs.pods, key=lambda p: p.attempt) if obs.pods else None
    attempts = int(current.get("attempts") or 0)
    if latest is not None and latest.attempt > attempts:
        return _adopt(kind, obs, latest)
    if latest is not None and not latest.terminated:
        return _watch_running(kind, obs, latest)
    if latest is not None and latest.attempt == attempts and last_failure(obs).get("attempt") != attempts:
        return kind.record(obs, latest)
    for pod in obs.pods:  # pods of recorded failed attempts are not kept while retrying
        if pod.deleting:
            return Wait(min(1.0, obs.reconcile_interval))
        return DeletePod(pod.name, f"attempt {pod.attempt} ended and was recorded")
    return _start_or_queue(kind, obs, phase, attempts)


def decide_deletion(kind: Kind[Obs], obs: Obs) -> Action:
    """Being deleted: stop its pods, then release the lock once they are gone."""
    reason = f"the {kind.noun} is being deleted"
    for pod in obs.pods:
        if not pod.terminated and not pod.deleting:
            return DeletePod(pod.name, reason)
    if any(not pod.terminated for pod in obs.pods):
        return Wait(1.0)
    if obs.holds_lock:
        return ReleaseLock(queueing.successor(obs))
    for pod in obs.pods:
        if pod.deleting:
            return Wait(1.0)
        return DeletePod(pod.name, reason)
    return Done()


def _adopt(kind: Kind[Obs], obs: Obs, pod: PodView) -> Action:
    """A pod exists for an attempt the status does not know yet (a restart after create)."""
    started = status_of(obs).get("startTime") or rfc3339(pod.created or obs.now)
    want = Desired(Phase.RUNNING, kind.adopted_reason, f"{kind.pod} {pod.name} (attempt {pod.attempt})",
                   {"attempts": pod.attempt, "podName": pod.name, "queuePosition": None,
                    "startTime": started})
    # No Event: the pod's creation posted one.
    return kind.set_status(obs, want) or Wait(obs.reconcile_interval)


def _watch_running(kind: Kind[Obs], obs: Obs, pod: PodView) -> Action:
    start = pod.created or parse_time(status_of(obs).get("startTime"))
    limit = kind.timeout_seconds(obs.subject) + DEADLINE_GRACE_SECONDS
    if start is not None and (obs.now - start).total_seconds() > limit and not pod.deleting:
        want = Desired(Phase.FAILED, "DeadlineExceeded",
                       f"{kind.pod} {pod.name} did not finish within spec.timeoutSeconds",
                       {"completionTime": rfc3339(obs.now), "podName": pod.name})
        return kind.set_status(obs, want, want.message, warning=True) or Wait(obs.reconcile_interval)
    return Wait(obs.reconcile_interval)


def _start_or_queue(kind: Kind[Obs], obs: Obs, phase: Phase, attempts: int) -> Action:
    if obs.repository is None:
        if phase is Phase.RUNNING:
            want = Desired(Phase.FAILED, "RepositoryNotFound",
                           f"Repository {obs.fqrn} was deleted{kind.deleted_while}",
                           {"completionTime": rfc3339(obs.now)})
            return (kind.set_status(obs, want, want.message, warning=True)
                    or ReleaseLock(queueing.successor(obs)))
        message = f"waiting for Repository {obs.fqrn}, which does not exist"
        want = Desired(Phase.PENDING, "RepositoryNotFound", message, {"queuePosition": None})
        return kind.set_status(obs, want, want.message, warning=True) or Wait(obs.reconcile_interval)
    repo_errors = validation.repository_errors(obs.repository)
    if repo_errors:
        want = Desired(Phase.RUNNING if phase is Phase.RUNNING else Phase.PENDING, "RepositoryInvalid",
                       f"Repository {obs.fqrn} is invalid: {'; '.join(repo_errors)}", {"queuePosition": None})
        return kind.set_status(obs, want, want.message, warning=True) or Wait(obs.reconcile_interval)
    refusal = kind.refusal(obs)
    if refusal is not None:
        refusal.fields["completionTime"] = rfc3339(obs.now)
        return kind.set_status(obs, refusal, refusal.message, warning=True) or Wait(obs.reconcile_interval)
    if attempts > 0 and last_failure(obs).get("attempt") != attempts:
        # The pod of the latest attempt vanished without a result being recorded.
        message = f"{kind.pod} of attempt {attempts} disappeared without a result"
        lost = {"attempt": attempts, "reason": "PodLost", "message": message}
        want = Desired(Phase.RUNNING, "PodLost", message, {"lastFailure": lost})
        return kind.set_status(obs, want, message, warning=True) or Wait(obs.reconcile_interval)
    exhausted = attempts > kind.backoff_limit(obs.subject)
    if obs.holds_lock:
        return kind.start_attempt(obs, phase, attempts, exhausted)
    if phase is Phase.RUNNING:
        # Between attempts without the lock (it was deleted or broken by hand): take it back if
        # it is free, never start a pod without it, and stay Running (no way back to the queue).
        if obs.lock_holder is None:
            return AcquireLock()
        want = Desired(Phase.RUNNING, "LockLost", f"the lock of repository {obs.fqrn} is held by "
                       f"{obs.lock_holder.rsplit('/', 1)[0]}; waiting to take it back")
        return kind.set_status(obs, want, want.message, warning=True) or Wait(obs.reconcile_interval)
    position = queueing.queue_step(obs)
    if not isinstance(position, int):
        return position
    if not queueing.position_stale(obs.subject, phase, position):
        return Wait(queueing.queued_wait(obs))
    holder = "" if obs.lock_holder is None else f" behind {obs.lock_holder.rsplit('/', 1)[0]}"
    want = Desired(Phase.QUEUED, "Queued", f"position {position} in the queue of {obs.fqrn}{holder}",
                   {"queuePosition": position})
    return kind.set_status(obs, want) or Wait(queueing.queued_wait(obs))


def namespace_refusal(obs: Subject, exempt: str | None = None) -> Desired | None:
    """Refused unless the Repository lists the object's namespace (or ``exempt`` is it)."""
    repo = obs.repository
    assert repo is not None
    namespace = obs.subject["metadata"]["namespace"]
    allowed = repo["spec"].get("allowedNamespaces", [])
    if namespace == exempt or "*" in allowed or namespace in allowed:
        return None
    return Desired(Phase.FAILED, "NamespaceNotAllowed",
                   f"Repository {obs.fqrn} does not list namespace {namespace!r} in spec.allowedNamespaces")


def reflog_refused(kind: Kind[Obs], obs: Obs, decision: reflog.Mismatch, waiting: Phase) -> Action:
    """The bucket's reflog is not what the Repository recorded: wait (never sign over it), and
    record the mismatch on the Repository once."""
    assert obs.repository is not None
    want = Desired(waiting, "ReflogMismatch", decision.message, {"queuePosition": None})
    recorded: Mapping[str, Any] = (obs.repository.get("status") or {}).get("reflogMismatch") or {}
    known = (recorded.get("expected"), recorded.get("found")) == (
        decision.record["expected"], decision.record["found"])
    action = kind.set_status(obs, want, decision.message, warning=True,
                             repository=None if known else {"reflogMismatch": decision.record})
    return action or Wait(max(obs.reconcile_interval, 5.0))


def _after_finish(kind: Kind[Obs], obs: Obs, phase: Phase) -> Action:
    live = [p for p in obs.pods if not p.terminated]
    for pod in live:
        if not pod.deleting:
            return DeletePod(pod.name, f"the {kind.noun} is {phase}")
    if live:
        return Wait(min(2.0, obs.reconcile_interval))  # the lock is released only once pods are gone
    if obs.holds_lock:
        return ReleaseLock(queueing.successor(obs))
    for pod in obs.pods:
        if pod.deleting:
            return Wait(min(2.0, obs.reconcile_interval))
        remaining = kind.retention(obs, phase)
        if remaining is not None and remaining > 0:
            return Wait(remaining)
        return DeletePod(pod.name, "finished" if remaining is None else "ttlSecondsAfterFinished elapsed")
    return Done()
