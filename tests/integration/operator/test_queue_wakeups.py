"""A hand-over wakes the few a departure concerns, not the whole queue.

Every Transaction of a long queue waits in a daemon of its own. When one leaves the queue (its
result written, or deleted), only the next to take the lock and the one behind it must look
again; the rest only move closer, which the position they show (an upper bound) already allows.
Waking them all costs one control-loop step per waiting Transaction per hand-over: quadratic in
the queue, and at 1,000 queued the steps crowd out the one that creates the next pod. Counted
with the operator's ``cvmfs_operator_reconcile_steps_total`` on /metrics.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.integration.operator.conftest import Kubelet, RepoFactory, operator_process, transaction
from tests.support.cluster import Cluster, eventually, free_port
from tests.support.scrape import Exported, scrape

QUEUED = 30
# A Transaction's own steps: its finalizer, queued, woken for the lock (acquire, pod), its pod's
# changes (created, running, ended, deleted), result and hand-over, woken as next in line: about
# 13 measured. With the whole queue woken at every departure it was 25 at this length (and grows
# with it).
STEPS_PER_TRANSACTION = 17


def _steps(port: int) -> float | None:
    return Exported(scrape(port)).value("cvmfs_operator_reconcile_steps_total", kind="Transaction")


async def test_a_long_queue_is_not_woken_at_every_hand_over(
        cluster: Cluster, kubelet: Kubelet, repository: RepoFactory, operator_env: dict[str, str],
        tmp_path: Path) -> None:
    port = free_port()
    # Periodic looks far apart: what is counted are wake-ups.
    env = {**operator_env, "CVMFS_OPERATOR_METRICS_PORT": str(port),
           "CVMFS_OPERATOR_RECONCILE_INTERVAL": "10"}
    async with operator_process(env, tmp_path / "operator.log"):
        await cluster.create_repository(repository())
        names = [f"q-{i:02d}" for i in range(QUEUED)]
        for name in names:
            await cluster.create_transaction(transaction(name))
        for name in names:
            await cluster.wait_phase("default", name, "Succeeded", timeout=120)

        async def counted() -> float | None:
            return await asyncio.to_thread(_steps, port)
        steps = await eventually(counted, timeout=10, what="the operator's /metrics")
    print(f"{steps:.0f} steps for {QUEUED} Transactions: {steps / QUEUED:.1f} each")
    assert steps <= STEPS_PER_TRANSACTION * QUEUED, f"{steps:.0f} steps for {QUEUED} Transactions"
