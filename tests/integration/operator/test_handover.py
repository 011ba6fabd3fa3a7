"""A queue moves on the predecessor's read of the repository, and stays exactly-once.

In a queue, the Transaction that hands the lock on has just read the repository (verifying its
own publish, its pod ended, the lock still held): that read serves the next one's pre-start checks,
so a hand-over costs no S3 read of its own. Counted on the operator's /metrics; and a tag already
published by the one before is still seen, so it is not published twice.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.integration.operator.conftest import (
    FQRN,
    Fate,
    Kubelet,
    RepoFactory,
    operator_process,
    transaction,
)
from tests.support import operations as ops
from tests.support.cluster import Cluster, eventually, free_port
from tests.support.scrape import Exported, scrape

QUEUED = 5


def _reads(port: int) -> dict[str, float] | None:
    seen = Exported(scrape(port))
    found = {purpose: seen.value("cvmfs_operator_stratum0_reads_total", purpose=purpose)
             for purpose in ("start", "verify")}
    found["handed"] = seen.value("cvmfs_operator_stratum0_reads_handed_total")
    return {k: v for k, v in found.items() if v is not None} or None


def _env(operator_env: dict[str, str], port: int) -> dict[str, str]:
    # The health loop reads the repository once, then not again during the test: its status writes
    # would make a record write conflict now and then (decided again, read again: counts vary).
    return {**operator_env, "CVMFS_OPERATOR_METRICS_PORT": str(port), "CVMFS_OPERATOR_HEALTH_INTERVAL": "600"}


async def _first_health_read(cluster: Cluster, fqrn: str) -> None:
    async def read_once() -> object:
        return ((await cluster.repository(fqrn)) or {}).get("status", {}).get("revision")
    await eventually(read_once, timeout=30, what="the Repository's first health status")


async def _counted(port: int, verifies: int) -> dict[str, float]:
    async def counted() -> dict[str, float] | None:
        found = await asyncio.to_thread(_reads, port)
        return found if found and found.get("verify", 0) >= verifies else None  # counted before each status
    return await eventually(counted, timeout=10, what="the read counters on /metrics")


async def _started(cluster: Cluster, port: int, name: str, tag: dict[str, str] | None = None) -> float:
    """Create the first Transaction and wait until its pod runs: its start reads (one, or two after
    a conflict) are done. How many there were."""
    await cluster.create_transaction(transaction(name, tag=tag or {"name": name}))
    await cluster.wait_phase("default", name, "Running", timeout=30)
    found = await asyncio.to_thread(_reads, port)
    assert found is not None, "no read counted"
    assert "start" in found, found
    return found["start"]


async def test_a_queue_moves_on_the_reads_handed_over_with_the_lock(
        cluster: Cluster, kubelet: Kubelet, repository: RepoFactory, operator_env: dict[str, str],
        tmp_path: Path) -> None:
    port = free_port()
    names = [f"h-{i}" for i in range(QUEUED)]
    kubelet.fates[names[0]] = Fate(seconds=5.0)  # the others are queued before it ends
    async with operator_process(_env(operator_env, port), tmp_path / "operator.log"):
        fqrn = (await cluster.create_repository(repository()))["metadata"]["name"]
        await _first_health_read(cluster, fqrn)
        before = await _started(cluster, port, names[0])
        for name in names[1:]:
            await cluster.create_transaction(transaction(name, tag={"name": name}))
        # Same tag as the one before it, and last in the queue (ties in creation time are broken by
        # name): published once, by the first of the two.
        await cluster.create_transaction(transaction("z-again", tag={"name": names[-1]}))
        for name in names:
            await cluster.wait_phase("default", name, "Succeeded", timeout=60)
        again = await cluster.wait_phase("default", "z-again", "Succeeded", timeout=60)

        reads = await _counted(port, QUEUED)
    assert again.get("reason") == "AlreadyPublished", again
    assert not kubelet.started("z-again"), "a tag already in the repository was published again"
    # Every start after the first was decided on the read handed over with the lock: no read of its
    # own (the first read the repository itself, once or, after a conflict, again). Each
    # verification read once.
    assert reads["handed"] == QUEUED, reads
    assert reads["start"] == before, reads
    assert reads["verify"] == QUEUED, reads
    revisions = [int((await cluster.status("default", name)).get("revisionAfter") or 0) for name in names]
    assert revisions == sorted(revisions), revisions
    assert len(set(revisions)) == QUEUED, revisions


async def test_operations_in_the_queue_hand_on_and_take_the_read_too(
        cluster: Cluster, kubelet: Kubelet, repository: RepoFactory, operator_env: dict[str, str],
        tmp_path: Path) -> None:
    """A Transaction hands its read to the RepositoryOperation behind it, which hands its own on to
    the Transaction behind that (names order ties in creation time)."""
    port = free_port()
    kubelet.fates["a-first"] = Fate(seconds=5.0)  # the other two are queued before it ends
    async with operator_process(_env(operator_env, port), tmp_path / "operator.log"):
        await _first_health_read(cluster, (await cluster.create_repository(repository()))["metadata"]["name"])
        before = await _started(cluster, port, "a-first", tag={"name": "v1"})
        await ops.create(cluster, ops.operation("b-tag", FQRN, tag={"action": "add", "name": "stable"}))
        await cluster.create_transaction(transaction("c-last", tag={"name": "v2"}))
        first = await cluster.wait_phase("default", "a-first", "Succeeded", timeout=60)
        tagged = await ops.wait_phase(cluster, "default", "b-tag", "Succeeded")
        last = await cluster.wait_phase("default", "c-last", "Succeeded", timeout=60)
        reads = await _counted(port, 3)
    assert tagged["revisionAfter"] == first["revisionAfter"], tagged  # tagged what a-first published
    assert last["revisionBefore"] == first["revisionAfter"], last
    # b-tag started on a-first's verifying read, c-last on b-tag's: no start read of their own.
    assert reads["handed"] == 2, reads
    assert reads["start"] == before, reads
    assert reads["verify"] == 3, reads
