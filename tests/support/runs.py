"""Waiting for a fault run to end, and telling safety from liveness in what it left.

Safety (never two pods of one repository or of one attempt, no final phase written twice or
left, none final in the wrong phase, no revision beyond one per Transaction) must hold whatever
happened; liveness (all final, every tag published, nothing left) may be excused by a test
(``xfail(raises=NotAllFinal)``) while the operator is too slow under a fault.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

from cvmfs_operator.api.types import TRANSACTION_PLURAL
from tests.support import invariants
from tests.support.apiproxy import Record
from tests.support.cluster import Cluster

SAFETY = frozenset({
    "two publisher pods of one repository at once", "two pods for one attempt",
    "final phase written more than once", "non-final phase written after a final one",
    "final in the wrong phase", "revisions published beyond one per Transaction"})


class NotAllFinal(AssertionError):
    """Liveness: some Transactions were not final (or not published, or not cleaned up) in time."""


async def until(check: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.5) -> bool:
    """Poll ``check`` until it is true (True) or ``timeout`` seconds passed (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(interval)
    return False


async def unfinished(cluster: Cluster, transactions: Iterable[tuple[str, str]]) -> list[str]:
    keys = list(transactions)
    statuses = await asyncio.gather(*(cluster.status(ns, name) for ns, name in keys))
    return [f"{ns}/{name}" for (ns, name), s in zip(keys, statuses, strict=True)
            if s.get("phase") not in invariants.FINAL]


async def all_final(cluster: Cluster, transactions: Iterable[tuple[str, str]]) -> bool:
    return not await unfinished(cluster, transactions)


async def idle(cluster: Cluster) -> bool:
    """No publisher pod and no Lease left in the operator's namespace."""
    pods = await cluster.publisher_pods()
    leases = await asyncio.to_thread(cluster.kube._call, "list Leases",
                                     cluster.kube.coordination.list_namespaced_lease,
                                     cluster.operator_namespace)
    return not pods and not leases.get("items")


async def watching(records: Sequence[Record], timeout: float = 60.0) -> bool:
    """Whether the operator behind a recording proxy came up (kopf watched Transactions) in time."""
    async def up() -> bool:
        return any(r.info.watch and r.info.resource == TRANSACTION_PLURAL for r in records)
    return await until(up, timeout, interval=0.1)
