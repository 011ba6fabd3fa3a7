"""The operator reacts to its pods, not to its clock: with a 60 s reconcile interval, a publisher
pod's end is noticed and the next Transaction of the repository started within seconds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cvmfs_operator.cli.emulator import ApiEmulator
from tests.integration.operator.conftest import FQRN, Fate, Kubelet, RepoFactory, transaction
from tests.support.apiproxy import ApiProxy, Faults
from tests.support.cluster import Cluster, OperatorProcess, eventually

INTERVAL = 60.0


@pytest.fixture
def operator_env(operator_env: dict[str, str]) -> dict[str, str]:
    return {**operator_env, "CVMFS_OPERATOR_RECONCILE_INTERVAL": str(INTERVAL)}


async def test_pod_ends_and_hand_overs_are_noticed_without_waiting_for_the_interval(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    kubelet.fates["one"] = kubelet.fates["two"] = Fate(seconds=1.0)
    await cluster.create_repository(repository())
    began = time.monotonic()
    await cluster.create_transaction(transaction("one", payload={"remove": {"paths": ["a"]}}))
    await cluster.create_transaction(transaction("two", payload={"remove": {"paths": ["b"]}}))

    # A poll-only operator would need at least an interval per pod end (2 x 60 s); the deadline
    # leaves room for a slow machine while staying far below one interval.
    first = await cluster.wait_phase("default", "one", "Succeeded", timeout=INTERVAL / 2)
    second = await cluster.wait_phase("default", "two", "Succeeded", timeout=INTERVAL / 2)

    assert time.monotonic() - began < INTERVAL / 2
    assert second["revisionAfter"] == first["revisionAfter"] + 1
    assert set(first["timeline"]) >= {"queued", "podStartup", "publisher", "recording"}
    assert first["timeline"]["recording"] < INTERVAL / 2
    await eventually(lambda: cluster.idle(FQRN), timeout=INTERVAL / 4, what="pods gone, lock released")


async def test_the_new_holder_starts_without_waiting_for_the_lease_watch(
        api: ApiEmulator, cluster: Cluster, kubelet: Kubelet, repository: RepoFactory,
        operator_env: dict[str, str], tmp_path: Path) -> None:
    """The Lease watch stalls (open, but no event comes): the operator that handed the lock over
    wakes the new holder itself. Queued behind a live holder, it would otherwise look again only
    after max(6 x interval, 30 s), here 60 s."""
    kubelet.fates["first"] = kubelet.fates["second"] = Fate(seconds=1.0)
    async with ApiProxy(str(api.url), Faults(stalled_watches=frozenset({"leases"}))) as proxy:
        process = OperatorProcess({**operator_env, "CVMFS_OPERATOR_API_SERVER": proxy.url,
                                   "CVMFS_OPERATOR_RECONCILE_INTERVAL": "10"}, tmp_path / "operator.log")
        process.start()
        try:
            await cluster.create_repository(repository())
            await cluster.create_transaction(transaction("first", payload={"remove": {"paths": ["a"]}}))
            await cluster.create_transaction(transaction("second", payload={"remove": {"paths": ["b"]}}))
            first = await cluster.wait_phase("default", "first", "Succeeded", timeout=30)
            second = await cluster.wait_phase("default", "second", "Succeeded", timeout=30)
        finally:
            process.stop()
    assert second["revisionAfter"] == first["revisionAfter"] + 1
    assert "Handed the lock of repository" in process.log()
    assert "Traceback" not in process.log()
