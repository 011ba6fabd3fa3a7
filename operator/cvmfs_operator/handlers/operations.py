"""kopf wiring for RepositoryOperations: the store fed from kopf's watch, their half of the
repositories' queue index, one daemon per unfinished operation, and a finalizer.

Operations queue with Transactions: both kinds' indexes are merged into one FIFO per repository
(handlers/transactions.py ``_queue_lookup``), and both wake on the same keys (the repository's
name, and the object's uid: a pod change or a lock handed over).
"""

from __future__ import annotations

import datetime
import functools
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
            queued=status.get("phase") == "Queued", operation=True)}

    def attention(status: kopf.Status, **_: Any) -> bool:
        return needs_attention(dict(status), {}, datetime.datetime.now(datetime.UTC))

    @kopf.daemon(*resource, registry=registry, id="operate", cancellation_timeout=10.0, when=attention)
    async def operate(stopped: kopf.DaemonStopped, namespace: str | None, name: str, spec: kopf.Spec,
                      uid: str | None, logger: Logger, **kwargs: Any) -> None:
        """Drive the operation through queue, pod and result until it is finished and cleaned up."""
        lookup = transactions.queue_lookup(kwargs)
        # The same wake-up keys as a Transaction's: the repository's queue, and its own uid.
        step = functools.partial(operation_flow.reconcile, rt, str(namespace), name, lookup, logger,
                                 read_stratum0)
        await transactions.drive(rt, stopped, str(spec.get("repository")), str(uid), logger, step,
                                 kind="RepositoryOperation")

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

