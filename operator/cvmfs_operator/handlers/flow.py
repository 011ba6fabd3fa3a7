"""Observe → decide → act, for one Transaction, until the decision is to wait or stop.

Runs in a worker thread (the Kubernetes client is synchronous). Every action is idempotent and
followed by a fresh observation, so a crash between any two steps resumes correctly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cvmfs_operator.api import validation
from cvmfs_operator.api.phases import TERMINAL
from cvmfs_operator.api.types import Transaction
from cvmfs_operator.clients.errors import AlreadyExists, Conflict, NotFound
from cvmfs_operator.handlers import handover, locking
from cvmfs_operator.handlers.runtime import Logger, Runtime
from cvmfs_operator.reconcile import queueing
from cvmfs_operator.reconcile import transaction as decisions
from cvmfs_operator.reconcile.observed import (
    Observed,
    QueueEntry,
    Stratum0View,
    parse_time,
    pod_view,
    queue_length,
)
from cvmfs_operator.render import names
from cvmfs_operator.render.pod import PodInputs, render_pod
from cvmfs_operator.render.transaction import effective_tag

MAX_STEPS = 12
FINALIZER_WAIT = 1.0  # kopf adds its finalizer right after it appears; its arrival wakes the daemon
FINALIZER_PATIENCE = 10.0  # seconds after creation; then go on without it

QueueLookup = Callable[[str], Sequence[QueueEntry]]
Stratum0Reader = Callable[..., Stratum0View]  # (rt, txn, repo, *, reflog=bool)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def observe(rt: Runtime, txn: Transaction, queue: QueueLookup,
            stratum0: Stratum0View | None = None) -> Observed:
    meta = txn["metadata"]
    fqrn = txn["spec"]["repository"]
    repo = rt.kube.get_repository(fqrn)
    lease = rt.kube.get_lease(rt.settings.namespace, names.lock_name(fqrn))
    holder = (lease or {}).get("spec", {}).get("holderIdentity") if lease else None
    now = _now()
    acquired = parse_time((lease or {}).get("spec", {}).get("acquireTime"))
    entries = list(queue(fqrn))
    pods = rt.kube.list_pods(rt.settings.namespace, {names.LABEL_TRANSACTION_UID: meta["uid"]})
    alive = True
    if holder is not None and holder != names.holder_identity(meta["namespace"], meta["name"], meta["uid"]):
        alive = any(entry.holder == holder for entry in entries) or locking.holder_busy(rt, holder, now)
    return Observed(
        transaction=txn,
        repository=repo,
        lock_holder=holder,
        lock_age=(now - acquired).total_seconds() if acquired else None,
        holder_alive=alive,
        pods=[pod_view(pod, names.LABEL_ATTEMPT) for pod in pods],
        queue=entries,
        now=now,
        reconcile_interval=rt.settings.reconcile_interval,
        stratum0=stratum0,
        stale_lock_seconds=rt.settings.stale_lock_seconds,
    )


def reconcile(rt: Runtime, namespace: str, name: str, queue: QueueLookup, logger: Logger,
              read_stratum0: Stratum0Reader | None = None, *, deleting: bool = False) -> decisions.Action:
    """Drive one Transaction as far as it can go now; returns the final Wait or Done."""
    stratum0: Stratum0View | None = None
    handed = False  # whether stratum0 is the one handed on with the lock (counted when it is used)
    later: list[Callable[[], None]] = []  # Events posted once the steps are done
    try:
        for _ in range(MAX_STEPS):
            txn = rt.kube.get_transaction(namespace, name)
            if txn is None:
                return decisions.Done()
            if not deleting and _finalizer_pending(txn):
                return decisions.Wait(FINALIZER_WAIT)
            errors = validation.transaction_errors(txn)
            if errors:
                return _refuse(rt, txn, errors, logger, deleting=deleting)
            obs = observe(rt, txn, queue, stratum0)
            # Handed the lock with a read: taken once the lock is seen to be ours (a wake-up for
            # another reason, e.g. the one ahead going final, can come before the hand-over).
            if stratum0 is None and not deleting and obs.holds_lock and len(rt.handed):
                stratum0 = rt.handed.take(txn, effective_tag(txn))
                handed = stratum0 is not None
                obs = dataclasses.replace(obs, stratum0=stratum0)
            action = decisions.decide_deletion(obs) if deleting else decisions.decide(obs)
            if isinstance(action, decisions.Wait | decisions.Done):
                return action
            if isinstance(action, decisions.ReadStratum0):
                if read_stratum0 is None:
                    stratum0 = Stratum0View(error="no Stratum 0 reader configured", reflog_read=action.reflog)
                else:
                    began = time.monotonic()
                    stratum0 = read_stratum0(rt, txn, obs.repository, reflog=action.reflog)
                    stratum0 = dataclasses.replace(stratum0, read_seconds=time.monotonic() - began)
                    rt.metrics.stratum0_reads.labels(action.purpose).inc()
                continue
            if handed and handover.starts(action):
                rt.metrics.handed_reads.inc()
            handed = False
            try:
                _act(rt, obs, action, logger, later)
            except Conflict:
                logger.debug("The Transaction changed since it was read; deciding again")
            stratum0 = None  # what was read before an action may be stale after it
        return decisions.Wait(0.5)
    finally:
        for post in later:
            post()


def _refuse(rt: Runtime, txn: Transaction, errors: list[str], logger: Logger, *,
            deleting: bool) -> decisions.Action:
    """A malformed Transaction: fail it (nothing was started for it, nothing to clean up)."""
    if deleting:
        return decisions.Done()
    obs = Observed(transaction=txn, repository=None, lock_holder=None, lock_age=None, holder_alive=True,
                   pods=[], queue=[], now=_now(), reconcile_interval=rt.settings.reconcile_interval)
    action = decisions.refuse_invalid(obs, errors)
    if isinstance(action, decisions.SetStatus):
        meta = txn["metadata"]
        rt.kube.patch_transaction_status(meta["namespace"], meta["name"], action.status,
                                         resource_version(txn))
        logger.warning("%s", action.event)
        rt.kube.post_event(txn, "Warning", "InvalidSpec", str(action.event))
        rt.metrics.finished.labels("", "Failed", "InvalidSpec").inc()
    return decisions.Done()


def _act(rt: Runtime, obs: Observed, action: decisions.Action, logger: Logger,
         later: list[Callable[[], None]]) -> None:
    txn = obs.transaction
    meta = txn["metadata"]
    fqrn = txn["spec"]["repository"]
    ns = rt.settings.namespace
    match action:
        case decisions.SetStatus(status=status, event=event, warning=warning, repository=repo_fields,
                                 hand_over=hand_over):
            # The Repository first: what it records (revision, reflog checksum) must not be lost to
            # a crash right after the Transaction's final write, which ends all further looks at it
            # (the next Transaction would find the bucket's reflog "changed outside the operator").
            # Written again after a crash before the Transaction's write: the same fields.
            recorded = bool(repo_fields) and obs.repository is not None
            if repo_fields and obs.repository is not None:  # onto the version decided from (replicas)
                rt.kube.patch_repository_status(fqrn, _with_queue(obs, repo_fields, status),
                                                resource_version(obs.repository))
            if hand_over:  # then the lock, so that the next pod need not wait for the write below
                # with what this one just read of the repository (its verification)
                _release(rt, obs, queueing.successor(obs), logger, named=recorded)
            # Only onto the version this was decided from: a conflict means someone else (another
            # replica, kopf) wrote in between; the caller observes again and decides afresh.
            rt.kube.patch_transaction_status(meta["namespace"], meta["name"], status,
                                             resource_version(txn))
            if event:
                (logger.warning if warning else logger.info)("%s", event)
                post = functools.partial(rt.kube.post_event, txn, "Warning" if warning else "Normal",
                                         str(status.get("reason")), event)
                # A final result's Event waits until the lock is handed over (the next step): one
                # request less between a pod's end and the next Transaction's pod.
                if status.get("phase") in TERMINAL:
                    later.append(post)
                else:
                    post()
            _count_finished(rt, obs, status)
            _update_queue_length(rt, obs, status)
            if status.get("phase") in TERMINAL:  # it leaves the queue, perhaps from its head (after a
                # hand-over the one behind the new holder is next only now: its position becomes 1)
                rt.wakeups.notify_daemons(e.uid for e in queueing.concerned_by_departure(obs))
        case decisions.AcquireLock():
            locking.acquire(rt, fqrn, obs.me, obs.now, logger)
        case decisions.BreakLock(holder=holder):
            locking.break_stale(rt, fqrn, holder, txn, logger)
        case decisions.ReleaseLock(successor=successor):
            _release(rt, obs, successor, logger)
        case decisions.CreatePod(attempt=attempt, reflog_checksum=checksum):
            _create_pod(rt, obs, attempt, checksum, logger)
        case decisions.DeletePod(name=pod_name, why=why):
            rt.kube.delete_pod(ns, pod_name)
            logger.info("Deleted publisher pod %s: %s", pod_name, why)  # logged only: no Event


def _create_pod(rt: Runtime, obs: Observed, attempt: int, reflog_checksum: str | None,
                logger: Logger) -> None:
    txn = obs.transaction
    assert obs.repository is not None
    repo_status = obs.repository.get("status", {})
    s0 = obs.stratum0
    inputs = PodInputs(
        transaction=txn,
        repository=obs.repository,
        namespace=rt.settings.namespace,
        default_image=rt.settings.publisher_image,
        attempt=attempt,
        reflog_checksum=reflog_checksum,
        revision_before=(s0.revision if s0 and s0.revision is not None else repo_status.get("revision")),
    )
    pod = render_pod(inputs)
    fqrn = txn["spec"]["repository"]
    repo_fields: dict[str, object] = {}
    if reflog_checksum and reflog_checksum != repo_status.get("reflogChecksum"):
        repo_fields["reflogChecksum"] = reflog_checksum  # a first publish, or an acknowledged change
        if s0 is not None and s0.revision is not None:
            repo_fields["reflogRevision"] = s0.revision
    if repo_status.get("reflogMismatch"):
        repo_fields["reflogMismatch"] = None  # the pod starts from what the bucket holds now
    if repo_fields or _names_wrongly(obs):
        repo_fields["activeTransaction"] = _ref(txn)
        repo_fields["queueLength"] = _waiting(obs)
        # Before the pod, and a reflog record only onto the Repository it was decided from: written
        # after the pod, it could land after the pod's own result, recorded by another replica, and
        # undo it (the next publish then held ReflogMismatch); a stale replica's write gets a 409.
        version = resource_version(obs.repository) if "reflogChecksum" in repo_fields else None
        rt.kube.patch_repository_status(fqrn, repo_fields, version)
    try:
        rt.kube.create_pod(pod)
    except AlreadyExists:
        return  # created before a restart: the next observation adopts it
    rt.metrics.pods_started.labels(fqrn).inc()
    message = f"Created publisher pod {rt.settings.namespace}/{pod['metadata']['name']} (attempt {attempt})"
    logger.info("%s", message)
    rt.kube.post_event(txn, "Normal", "PodCreated", message)


def _release(rt: Runtime, obs: Observed, successor: str | None, logger: Logger, *,
             named: bool = False) -> None:
    """``named``: the Repository's activeTransaction was just written with the result. What this
    step read of the repository goes to ``successor`` with the lock."""
    txn = obs.transaction
    fqrn = txn["spec"]["repository"]
    locking.release(rt, fqrn, obs, successor, obs.now, logger, read=obs.stratum0)
    repo = obs.repository
    active = repo.get("status", {}).get("activeTransaction") if repo is not None else None
    # With others waiting, the next one's pod creation overwrites it: no write of its own here.
    if named or repo is None or not active or active.get("uid") != txn["metadata"]["uid"]:
        return
    if not _waiting(obs):
        with contextlib.suppress(NotFound):
            rt.kube.patch_repository_status(fqrn, {"activeTransaction": None})


def _count_finished(rt: Runtime, obs: Observed, status: dict[str, object] | object) -> None:
    if not isinstance(status, dict):
        return
    phase = status.get("phase")
    if phase not in TERMINAL:
        return
    fqrn = obs.transaction["spec"]["repository"]
    durations = status.get("durations") or obs.transaction.get("status", {}).get("durations")
    rt.metrics.transaction_finished(fqrn, str(phase), str(status.get("reason", "")),
                                    durations if isinstance(durations, dict) else None)
    timeline = status.get("timeline")
    rt.metrics.transaction_timeline(fqrn, timeline if isinstance(timeline, dict) else None)
    started = parse_time(obs.transaction.get("status", {}).get("startTime"))
    if phase == "Succeeded" and started is not None:
        rt.metrics.publish_seconds.labels(fqrn).observe(max(0.0, (obs.now - started).total_seconds()))


def _waiting(obs: Observed) -> int:
    """Transactions of the repository waiting behind the lock holder (this one excluded)."""
    running = names.holder_uid(obs.lock_holder)
    return queue_length([e for e in obs.queue if e.uid != obs.transaction["metadata"]["uid"]], running)


def _ref(txn: Transaction) -> dict[str, str]:
    meta = txn["metadata"]
    return {"namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}


def _names_wrongly(obs: Observed) -> bool:
    """Whether the Repository's activeTransaction must be written as this Transaction's pod starts.

    It is written when others wait (a queue formed before this pod: they want to know who is
    ahead), or when it names someone else (stale). A lone publish on an idle repository writes
    nothing to the Repository until its result: the lock's Lease, this Transaction's Running
    phase and ``kubectl cvmfs list`` name it; one write per Transaction saved (docs/architecture.md
    "Writes per Transaction"). In a queue the predecessor's result already named this one.
    """
    repo_status: Mapping[str, Any] = obs.repository.get("status") or {} if obs.repository else {}
    active: Mapping[str, Any] = repo_status.get("activeTransaction") or {}
    mine = obs.transaction["metadata"]["uid"]
    if active.get("uid") is not None:
        return bool(active.get("uid") != mine)
    return _waiting(obs) > 0


def _successor(obs: Observed) -> QueueEntry | None:
    """The one the lock goes to when this Transaction releases it (FIFO, either kind)."""
    after = queueing.successor(obs)
    return next((entry for entry in obs.queue if entry.holder == after), None)


def _with_queue(obs: Observed, repo_fields: dict[str, Any], status: Mapping[str, Any]) -> dict[str, Any]:
    """Repository status written with a publish's result also carries the queue length (no write
    of its own: the health loop corrects it when nothing is published) and names the next active
    Transaction: the successor the lock is handed to (so its pod start needs no Repository write),
    or none."""
    fields = dict(repo_fields)
    if status.get("phase") not in TERMINAL:
        fields.setdefault("queueLength", _waiting(obs))
        return fields
    following = _successor(obs)
    others = [e for e in obs.queue if e.uid != obs.transaction["metadata"]["uid"]]
    fields.setdefault("queueLength", queue_length(others, following.uid if following else None))
    fields.setdefault("activeTransaction",
                      following.ref() if following is not None and not following.operation else None)
    return fields


def _update_queue_length(rt: Runtime, obs: Observed, status: Mapping[str, Any]) -> None:
    """The gauge follows every step. The Repository's status.queueLength is written when the
    first Transaction joins an empty queue, with the repository's other status writes (pod
    creation, a publish's result) and by the health loop: never once per waiting Transaction."""
    if obs.repository is None:
        return
    fqrn = obs.repository["metadata"]["name"]
    running = names.holder_uid(obs.lock_holder)
    waiting = queue_length(obs.queue, running)
    rt.metrics.queue_length.labels(fqrn).set(waiting)
    # The first to wait makes the queue visible, and who holds it; later ones are counted at the
    # next hand-over.
    joined = status.get("phase") == "Queued" and obs.transaction.get("status", {}).get("phase") != "Queued"
    if joined and not obs.repository.get("status", {}).get("queueLength"):
        fields: dict[str, object] = {"queueLength": waiting}
        holder = next((e for e in obs.queue if e.holder == obs.lock_holder and not e.operation), None)
        if holder is not None:
            fields["activeTransaction"] = holder.ref()
        rt.kube.patch_repository_status(fqrn, fields)


def _finalizer_pending(txn: Transaction) -> bool:
    """A brand-new Transaction whose finalizer kopf is about to add: a status write now would
    conflict with that patch (a 409 for one of the two writes, measured on nearly every
    Transaction of a burst), so the first step waits for it, briefly."""
    meta = txn["metadata"]
    if names.FINALIZER in (meta.get("finalizers") or []) or meta.get("deletionTimestamp"):
        return False
    created = parse_time(meta.get("creationTimestamp"))
    return created is not None and (_now() - created).total_seconds() < FINALIZER_PATIENCE


def resource_version(obj: Mapping[str, Any]) -> str | None:
    """The version a write is conditional on (the object as it was decided from)."""
    version = obj["metadata"].get("resourceVersion")
    return str(version) if version else None
