"""A queue moves on the predecessor's read of the repository, and stays exactly-once.

In a queue, the Transaction that hands the lock on has just read the repository (verifying its
own publish, its pod ended, the lock still held): that read serves the next one's pre-start checks,
so a hand-over costs no S3 read of its own. Counted on the operator's /metrics; and a tag already
published by the one before is still seen, so it is not published twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.integration.operator.conftest import Kubelet, RepoFactory, operator_process, transaction
from tests.support.cluster import Cluster, eventually, free_port
from tests.support.scrape import Exported, scrape

QUEUED = 5


def _reads(port: int) -> dict[str, float] | None:
    seen = Exported(scrape(port))
    found = {purpose: seen.value("cvmfs_operator_stratum0_reads_total", purpose=purpose)
             for purpose in ("start", "verify")}
    found["handed"] = seen.value("cvmfs_operator_stratum0_reads_handed_total")
    return {k: v for k, v in found.items() if v is not None} or None


async def test_a_queue_moves_on_the_reads_handed_over_with_the_lock(
        cluster: Cluster, kubelet: Kubelet, repository: RepoFactory, operator_env: dict[str, str],
        tmp_path: Path) -> None:
    port = free_port()
    # The health loop reads the repository once, then not again during the test: its status writes
    # would make a record write conflict now and then (decided again, read again: counts vary).
    env = {**operator_env, "CVMFS_OPERATOR_METRICS_PORT": str(port), "CVMFS_OPERATOR_HEALTH_INTERVAL": "600"}
    async with operator_process(env, tmp_path / "operator.log"):
        fqrn = (await cluster.create_repository(repository()))["metadata"]["name"]

        async def read_once() -> object:
            return ((await cluster.repository(fqrn)) or {}).get("status", {}).get("revision")
        await eventually(read_once, timeout=30, what="the Repository's first health status")
        names = [f"h-{i}" for i in range(QUEUED)]
        for name in names:
            await cluster.create_transaction(transaction(name, tag={"name": name}))
        # Same tag as the one before it, and last in the queue (ties in creation time are broken by
        # name): published once, by the first of the two.
        await cluster.create_transaction(transaction("z-again", tag={"name": names[-1]}))
        for name in names:
            await cluster.wait_phase("default", name, "Succeeded", timeout=60)
        again = await cluster.wait_phase("default", "z-again", "Succeeded", timeout=60)

        async def counted() -> dict[str, float] | None:
            found = await asyncio.to_thread(_reads, port)
            return found if found and "verify" in found else None  # counted before each status
        reads = await eventually(counted, timeout=10, what="the read counters on /metrics")
    assert again.get("reason") == "AlreadyPublished", again
    assert not kubelet.started("z-again"), "a tag already in the repository was published again"
    # Every later start was decided on the read handed over with the lock; only the first read the
    # repository itself (twice when its first-publish reflog record met the queue's first write to
    # the Repository: a 409, decided again). Each verification read once.
    assert reads["handed"] == QUEUED, reads
    assert reads["start"] in (1.0, 2.0), reads
    assert reads["verify"] == QUEUED, reads
    revisions = [int((await cluster.status("default", name)).get("revisionAfter") or 0) for name in names]
    assert revisions == sorted(revisions), revisions
    assert len(set(revisions)) == QUEUED, revisions
