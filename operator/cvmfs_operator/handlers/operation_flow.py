"""Observe → decide → act, for one RepositoryOperation, until the decision is to wait or stop.

The Transaction flow's pieces (handlers/flow.py) for the other member of a repository's queue:
the same Lease lock and holder identities, the merged FIFO queue, pods from the operator's pod
informer, status written onto the version it was decided from. Runs in a worker thread.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Callable
from typing import Any, cast

from cvmfs_operator.api import operations
from cvmfs_operator.api.phases import TERMINAL
from cvmfs_operator.api.types import Repository, RepositoryOperation
from cvmfs_operator.clients.errors import AlreadyExists, Conflict
from cvmfs_operator.handlers import handover, locking, stratum0_access
from cvmfs_operator.handlers.flow import QueueLookup, resource_version
from cvmfs_operator.handlers.runtime import Logger, Runtime
from cvmfs_operator.reconcile import actions as act
from cvmfs_operator.reconcile import operation as decisions
from cvmfs_operator.reconcile import queueing
from cvmfs_operator.reconcile.observed import Stratum0View, parse_time, pod_view
from cvmfs_operator.reconcile.operation_status import OperationObserved
from cvmfs_operator.render import names
from cvmfs_operator.render.operation_config import operation_config
from cvmfs_operator.render.operation_pod import COMPONENT, inputs_for, render_operation_pod

MAX_STEPS = 12
OperationReader = Callable[[Runtime, RepositoryOperation, Repository | None], Stratum0View]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def observe(rt: Runtime, op: RepositoryOperation, queue: QueueLookup,
            stratum0: Stratum0View | None = None) -> OperationObserved:
    meta = op["metadata"]
    fqrn = str(op["spec"].get("repository"))
    lease = rt.kube.get_lease(rt.settings.namespace, names.lock_name(fqrn))
    holder = (lease or {}).get("spec", {}).get("holderIdentity") if lease else None
    now = _now()
    acquired = parse_time((lease or {}).get("spec", {}).get("acquireTime"))
    entries = list(queue(fqrn))
    pods = rt.kube.list_pods(rt.settings.namespace, {names.LABEL_OPERATION_UID: meta["uid"]})
    alive = True
    if holder is not None and holder != names.holder_identity(meta["namespace"], meta["name"], meta["uid"]):
        alive = any(entry.holder == holder for entry in entries) or locking.holder_busy(rt, holder, now)
    return OperationObserved(
        operation=op, repository=rt.kube.get_repository(fqrn), lock_holder=holder,
        lock_age=(now - acquired).total_seconds() if acquired else None, holder_alive=alive,
        pods=[pod_view(pod, names.LABEL_ATTEMPT, COMPONENT) for pod in pods], queue=entries, now=now,
        reconcile_interval=rt.settings.reconcile_interval, operator_namespace=rt.settings.namespace,
        stratum0=stratum0, stale_lock_seconds=rt.settings.stale_lock_seconds)


def own_tag(op: RepositoryOperation) -> str | None:
    """The tag an operation looks up before it starts: the one it rolls back to or edits."""
    kind = operations.operation_kind(op)
    body: Any = op["spec"].get(kind) if kind else None
    tag = body.get("tag") if kind == "rollback" else body.get("name") if kind == "tag" else None
    return str(tag) if tag else None


def read_for_operation(rt: Runtime, op: RepositoryOperation, repo: Repository | None,
                       readers: stratum0_access.ReaderFactory = stratum0_access.reader_for) -> Stratum0View:
    """The repository as it is now, with the bucket's reflog hash, about the operation's tag
    (rollback, tag): :func:`stratum0_access.read_repository`."""
    if repo is None:
        return Stratum0View(error=f"Repository {op['spec']['repository']} does not exist", reflog_read=True)
    return stratum0_access.read_repository(rt, repo, own_tag(op), readers, reflog=True)


def reconcile(rt: Runtime, namespace: str, name: str, queue: QueueLookup, logger: Logger,
              read_stratum0: OperationReader | None = None, *, deleting: bool = False) -> act.Action:
    """Drive one RepositoryOperation as far as it can go now; returns the final Wait or Done."""
    stratum0: Stratum0View | None = None
    handed = False  # whether stratum0 is the one handed on with the lock (counted when it is used)
    verified: Stratum0View | None = None  # the read that checked this operation's result, to hand on
    for _ in range(MAX_STEPS):
        op = rt.kube.get_repository_operation(namespace, name)
        if op is None:
            return act.Done()
        errors = operations.operation_errors(op)
        if errors:
            return act.Done() if deleting else _refuse(rt, op, errors, logger)
        obs = observe(rt, op, queue, stratum0)
        if stratum0 is None and not deleting and obs.holds_lock and len(rt.handed):  # with a read?
            stratum0 = rt.handed.take(op, own_tag(op))
            handed = stratum0 is not None
            obs = dataclasses.replace(obs, stratum0=stratum0)
        action = decisions.decide_deletion(obs) if deleting else decisions.decide(obs)
        if isinstance(action, act.Wait | act.Done):
            return action
        if isinstance(action, act.ReadStratum0):
            began = time.monotonic()
            stratum0 = (read_stratum0(rt, op, obs.repository) if read_stratum0 is not None
                        else Stratum0View(error="no Stratum 0 reader configured", reflog_read=True))
            stratum0 = dataclasses.replace(stratum0, read_seconds=time.monotonic() - began)
            if read_stratum0 is not None:
                rt.metrics.stratum0_reads.labels(action.purpose).inc()
            if action.purpose == "verify":
                verified = stratum0
            continue
        if handed and handover.starts(action):
            rt.metrics.handed_reads.inc()
        handed = False
        try:
            _act(rt, obs, action, logger, verified)
        except Conflict:
            logger.debug("The RepositoryOperation changed since it was read; deciding again")
        stratum0 = None
    return act.Wait(0.5)


def _refuse(rt: Runtime, op: RepositoryOperation, errors: list[str], logger: Logger) -> act.Action:
    obs = OperationObserved(operation=op, repository=None, lock_holder=None, lock_age=None, holder_alive=True,
                            pods=[], queue=[], now=_now(), reconcile_interval=rt.settings.reconcile_interval,
                            operator_namespace=rt.settings.namespace)
    action = decisions.refuse_invalid(obs, errors)
    if isinstance(action, act.SetStatus):
        _set_status(rt, obs, action, logger)
    return act.Done()


def _set_status(rt: Runtime, obs: OperationObserved, action: act.SetStatus, logger: Logger) -> None:
    op = obs.operation
    meta = op["metadata"]
    status = cast(dict[str, Any], action.status)
    if action.repository and obs.repository is not None:  # first, as a publish's record (flow.py),
        # and onto the Repository decided from (a stale replica's record would undo a newer one)
        rt.kube.patch_repository_status(obs.fqrn, action.repository, resource_version(obs.repository))
    rt.kube.patch_repository_operation_status(meta["namespace"], meta["name"], status, resource_version(op))
    reason = str(status.get("reason"))
    if action.event:
        (logger.warning if action.warning else logger.info)("%s", action.event)
        rt.kube.post_event(op, "Warning" if action.warning else "Normal", reason, action.event)
    phase = status.get("phase")
    if phase in TERMINAL:
        rt.metrics.operation_finished(obs.fqrn, obs.kind, str(phase), reason)
        # It leaves the queue, perhaps from its head.
        rt.wakeups.notify_daemons(e.uid for e in queueing.concerned_by_departure(obs))
        text = f"RepositoryOperation {meta['namespace']}/{meta['name']}: {status.get('message')}"
        if reason == "CheckFailed" and obs.repository is not None:
            rt.kube.post_event(obs.repository, "Warning", "CheckFailed", text)
        elif obs.kind == "resign" and obs.repository is not None:  # the whitelist clients trust
            ok = phase == "Succeeded"
            rt.kube.post_event(obs.repository, "Normal" if ok else "Warning",
                               "Resigned" if ok else "ResignFailed", text)


def _act(rt: Runtime, obs: OperationObserved, action: act.Action, logger: Logger,
         verified: Stratum0View | None = None) -> None:
    op = obs.operation
    fqrn = obs.fqrn
    ns = rt.settings.namespace
    match action:
        case act.SetStatus():
            _set_status(rt, obs, action, logger)
        case act.AcquireLock():
            locking.acquire(rt, fqrn, obs.me, obs.now, logger)
        case act.BreakLock(holder=holder):
            locking.break_stale(rt, fqrn, holder, op, logger)
        case act.ReleaseLock(successor=successor):
            # The lock held since the verifying read: it serves the next one's start.
            locking.release(rt, fqrn, obs, successor, obs.now, logger, read=verified)
        case act.CreatePod(attempt=attempt, reflog_checksum=checksum):
            _create_pod(rt, obs, attempt, checksum, logger)
        case act.DeletePod(name=pod_name, why=why):
            rt.kube.delete_pod(ns, pod_name)
            logger.info("Deleted operation pod %s: %s", pod_name, why)


def _create_pod(rt: Runtime, obs: OperationObserved, attempt: int, checksum: str | None,
                logger: Logger) -> None:
    assert obs.repository is not None
    s0 = obs.stratum0
    revision = s0.revision if s0 is not None and s0.revision is not None else \
        (obs.repository.get("status") or {}).get("revision")
    config = operation_config(obs.operation, obs.repository, reflog_checksum=checksum,
                              revision_before=revision)
    pod = render_operation_pod(inputs_for(obs.operation, obs.repository, namespace=rt.settings.namespace,
                                          default_image=rt.settings.publisher_image, attempt=attempt,
                                          config=config))
    try:
        rt.kube.create_pod(pod)
    except AlreadyExists:
        return  # created before a restart: the next observation adopts it
    repo_status = obs.repository.get("status") or {}
    if repo_status.get("reflogMismatch") and obs.kind in decisions.REFLOG_GATED:
        rt.kube.patch_repository_status(obs.fqrn, {"reflogMismatch": None})  # starts from the bucket's
    message = f"Created operation pod {rt.settings.namespace}/{pod['metadata']['name']} (attempt {attempt})"
    logger.info("%s", message)
    rt.kube.post_event(obs.operation, "Normal", "PodCreated", message)
