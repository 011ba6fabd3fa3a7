"""kopf wiring for Transactions: a queue index, one daemon per Transaction, and a finalizer."""

from __future__ import annotations

import asyncio
import datetime
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import kopf

from cvmfs_operator.api import phases
from cvmfs_operator.api.types import GROUP, TRANSACTION_PLURAL, VERSION
from cvmfs_operator.clients.errors import KubeError
from cvmfs_operator.handlers import flow
from cvmfs_operator.handlers.runtime import Logger, Runtime, daemon_key
from cvmfs_operator.reconcile import transaction as decisions
from cvmfs_operator.reconcile.observed import QueueEntry

INDEX = "transactions_by_repository"
OPERATIONS_INDEX = "operations_by_repository"  # handlers/operations.py: the other kind in each queue
ERROR_DELAY = 5.0
ERROR_BACKOFF = (0.5, 1.0, 2.0, 4.0, 5.0)  # after 1, 2, 3... API errors in a row (never above 5 s)


def error_delay(failures: int) -> float:
    """A passing API error (500, 429, a conflict) is retried soon; a lasting one ever more slowly."""
    return ERROR_BACKOFF[min(failures, len(ERROR_BACKOFF)) - 1]


def _queue_lookup(*indexes: Any) -> flow.QueueLookup:
    def lookup(fqrn: str) -> Sequence[QueueEntry]:
        entries: list[QueueEntry] = []
        for index in indexes:
            try:
                entries.extend(index.get(fqrn, []))
            except (KeyError, TypeError, AttributeError):
                continue
        return sorted(entries, key=lambda e: e.sort_key())
    return lookup


def queue_lookup(kwargs: Mapping[str, Any]) -> flow.QueueLookup:
    """A repository's one FIFO queue, Transactions and RepositoryOperations by creation time (kopf
    hands every index to every handler)."""
    return _queue_lookup(kwargs[INDEX], kwargs.get(OPERATIONS_INDEX))


def register(registry: kopf.OperatorRegistry, rt: Runtime,
             read_stratum0: flow.Stratum0Reader | None = None) -> None:
    resource = (GROUP, VERSION, TRANSACTION_PLURAL)

    def unfinished(meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
        try:
            phase = phases.parse(status.get("phase"))
        except phases.IllegalTransition:
            return False
        return not phase.terminal and not meta.get("deletionTimestamp") \
            and isinstance(spec.get("repository"), str)

    # NB: an object stops being indexed only when the `when` filter stops matching; a handler
    # returning None would keep its previous value in the index.
    @kopf.index(*resource, registry=registry, id=INDEX, when=unfinished)
    def transactions_by_repository(meta: kopf.Meta, spec: kopf.Spec, status: kopf.Status,
                                   **_: Any) -> dict[str, QueueEntry]:
        """Unfinished Transactions per repository, for FIFO queue positions."""
        return {str(spec.get("repository")): QueueEntry(
            created=str(meta.get("creationTimestamp") or ""),
            namespace=str(meta.get("namespace")), name=str(meta.get("name")), uid=str(meta.get("uid")),
            queued=status.get("phase") == "Queued")}

    def attention(spec: kopf.Spec, status: kopf.Status, **_: Any) -> bool:
        return decisions.needs_attention(dict(status), dict(spec), datetime.datetime.now(datetime.UTC))

    @kopf.daemon(*resource, registry=registry, id="publish", cancellation_timeout=10.0, when=attention)
    async def publish(stopped: kopf.DaemonStopped, namespace: str | None, name: str, spec: kopf.Spec,
                      uid: str | None, logger: Logger, **kwargs: Any) -> None:
        """Drive the Transaction through queue, pod and result until it is finished and cleaned up."""
        lookup = queue_lookup(kwargs)
        await drive(rt, stopped, str(spec.get("repository")), str(uid), logger, functools.partial(
            flow.reconcile, rt, str(namespace), name, lookup, logger, read_stratum0))

    @kopf.on.delete(*resource, registry=registry, id="stop-publisher")
    def stop_publisher(namespace: str | None, name: str, logger: Logger, **kwargs: Any) -> None:
        """Stop the Transaction's pod; release the repository lock only once the pod is gone."""
        try:
            action = flow.reconcile(rt, str(namespace), name, queue_lookup(kwargs), logger,
                                    deleting=True)
        except KubeError as exc:
            raise kopf.TemporaryError(str(exc), delay=ERROR_DELAY) from None
        if isinstance(action, decisions.Wait):
            raise kopf.TemporaryError("waiting for the publisher pod to stop", delay=action.seconds)
        rt.wakeups.notify(str((kwargs.get("spec") or {}).get("repository")))  # the queue moves on


async def drive(rt: Runtime, stopped: kopf.DaemonStopped, fqrn: str, uid: str, logger: Logger,
                step: Callable[[], decisions.Action], kind: str = "Transaction") -> None:
    """A daemon's loop, for a Transaction or a RepositoryOperation: run ``step`` (observe, decide,
    act until it waits) in a thread, back off on API errors (honouring Retry-After), and sleep
    until its wait is over or it is woken by the repository's queue or by its own uid (a pod's
    change, the lock handed over to it)."""
    failures = 0
    try:
        while not stopped:
            wakes = [rt.wakeups.event(fqrn), rt.wakeups.event(daemon_key(uid))]
            rt.metrics.reconcile_steps.labels(kind).inc()
            try:
                action = await asyncio.to_thread(step)
            except KubeError as exc:
                failures += 1
                rt.metrics.api_errors.labels("kubernetes").inc()
                action = decisions.Wait(max(error_delay(failures), exc.retry_after or 0.0))
                logger.warning("Will retry in %.1f s: %s", action.seconds, exc)
            else:
                failures = 0
            if isinstance(action, decisions.Done):
                return
            delay = action.seconds if isinstance(action, decisions.Wait) else 0.5
            await _sleep(stopped, wakes, delay)
    finally:
        rt.wakeups.discard(daemon_key(uid))


async def _sleep(stopped: kopf.DaemonStopped, wakes: Sequence[asyncio.Event], delay: float) -> None:
    tasks = {asyncio.ensure_future(stopped.wait()), *(asyncio.ensure_future(w.wait()) for w in wakes)}
    try:
        await asyncio.wait(tasks, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
