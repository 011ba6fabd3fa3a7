"""kopf wiring for RepositoryOperations: the store fed from kopf's watch, their half of the
repositories' queue index, one daemon per unfinished operation, and a finalizer.

Operations queue with Transactions: both kinds' indexes are merged into one FIFO per repository
(handlers/transactions.py ``_queue_lookup``), and both wake on the same keys (the repository's
name, and the object's uid: a pod change or a lock handed over).
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Sequence
from typing import Any

import kopf

from cvmfs_operator.api import phases
from cvmfs_operator.api.types import GROUP, OPERATION_PLURAL, VERSION
from cvmfs_operator.clients.errors import KubeError
from cvmfs_operator.handlers import operation_flow, transactions
from cvmfs_operator.handlers.runtime import Logger, Runtime
from cvmfs_operator.reconcile import actions as act
from cvmfs_operator.reconcile.observed import QueueEntry
from cvmfs_operator.reconcile.transaction import needs_attention

INDEX = transactions.OPERATIONS_INDEX
ERROR_DELAY = 5.0


def _unfinished(meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
    try:
        phase = phases.parse(status.get("phase"))
    except phases.IllegalTransition:
        return False
    return not phase.terminal and not meta.get("deletionTimestamp") \
        and isinstance(spec.get("repository"), str)


def register(registry: kopf.OperatorRegistry, rt: Runtime,
             read_stratum0: operation_flow.OperationReader | None = None) -> None:
    resource = (GROUP, VERSION, OPERATION_PLURAL)

    @kopf.on.event(*resource, registry=registry, id="cache-operations")
    def operation_seen(body: kopf.Body, event: kopf.RawEvent, **_: Any) -> None:
        obj = dict(body)
        wanted = needs_attention(dict(obj.get("status") or {}), {}, datetime.datetime.now(datetime.UTC))
        if event.get("type") == "DELETED" or not wanted:
            rt.caches.operations.delete(obj)
        else:
            rt.caches.operations.put(obj)

    @kopf.index(*resource, registry=registry, id=INDEX, when=_unfinished)
    def operations_by_repository(meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status,
                                 **_: Any) -> dict[str, QueueEntry]:
        """Unfinished RepositoryOperations per repository: their places in its FIFO queue (a
        Transaction that finishes hands the lock to the next Queued member, of either kind)."""
        return {str(spec.get("repository")): QueueEntry(
            created=str(meta.get("creationTimestamp") or ""),
            namespace=str(meta.get("namespace")), name=str(meta.get("name")), uid=str(meta.get("uid")),
            queued=status.get("phase") == "Queued")}

    def attention(status: kopf.Status, **_: Any) -> bool:
        return needs_attention(dict(status), {}, datetime.datetime.now(datetime.UTC))

    @kopf.daemon(*resource, registry=registry, id="operate", cancellation_timeout=10.0, when=attention)
    async def operate(stopped: kopf.DaemonStopped, namespace: str | None, name: str, spec: kopf.Spec,
                      uid: str | None, logger: Logger, **kwargs: Any) -> None:
        """Drive the operation through queue, pod and result until it is finished and cleaned up."""
        lookup = transactions.queue_lookup(kwargs)
        fqrn = str(spec.get("repository"))
        failures = 0
        while not stopped:
            # The same keys as a Transaction's: the repository's queue, and its own uid (a pod's
            # change, or the lock handed over to it).
            wakes = [rt.wakeups.event(fqrn), rt.wakeups.event(transactions.transaction_key(str(uid)))]
            try:
                action = await asyncio.to_thread(
                    operation_flow.reconcile, rt, str(namespace), name, lookup, logger, read_stratum0)
            except KubeError as exc:
                failures += 1
                rt.metrics.api_errors.labels("kubernetes").inc()
                action = act.Wait(max(transactions.error_delay(failures), exc.retry_after or 0.0))
                logger.warning("Will retry in %.1f s: %s", action.seconds, exc)
            else:
                failures = 0
            if isinstance(action, act.Done):
                return
            delay = action.seconds if isinstance(action, act.Wait) else 0.5
            await _sleep(stopped, wakes, delay)

    @kopf.on.delete(*resource, registry=registry, id="stop-operation")
    def stop_operation(namespace: str | None, name: str, logger: Logger, **kwargs: Any) -> None:
        """Stop the operation's pod; release the repository lock only once the pod is gone."""
        try:
            action = operation_flow.reconcile(rt, str(namespace), name, transactions.queue_lookup(kwargs),
                                              logger, deleting=True)
        except KubeError as exc:
            raise kopf.TemporaryError(str(exc), delay=ERROR_DELAY) from None
        if isinstance(action, act.Wait):
            raise kopf.TemporaryError("waiting for the operation pod to stop", delay=action.seconds)
        rt.wakeups.notify(str((kwargs.get("spec") or {}).get("repository")))


async def _sleep(stopped: kopf.DaemonStopped, wakes: Sequence[asyncio.Event], delay: float) -> None:
    tasks = {asyncio.ensure_future(stopped.wait()), *(asyncio.ensure_future(w.wait()) for w in wakes)}
    try:
        await asyncio.wait(tasks, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
