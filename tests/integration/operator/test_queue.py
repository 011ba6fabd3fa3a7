"""One publisher per repository at a time, FIFO by creation; repositories run in parallel."""

from __future__ import annotations

from typing import Any

from tests.integration.operator.conftest import FQRN, Fate, Kubelet, RepoFactory, transaction
from tests.support.cluster import Cluster, OperatorProcess, eventually


async def test_two_transactions_on_one_repository_run_one_after_the_other_in_creation_order(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    kubelet.fates["first"] = Fate(seconds=2.0)
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("first"))
    await cluster.wait_phase("default", "first", "Running")
    await cluster.create_transaction(transaction("second"))

    queued = await cluster.wait_phase("default", "second", "Queued")
    assert queued["queuePosition"] == 1
    assert "first" in queued["message"]

    async def repo_shows_queue() -> dict[str, Any] | None:
        repo = await cluster.repository(FQRN)
        status = (repo or {}).get("status", {})
        active = status.get("activeTransaction") or {}
        return status if active.get("name") == "first" and status.get("queueLength") == 1 else None
    await eventually(repo_shows_queue, timeout=30, what="Repository status with the active Transaction")

    first = await cluster.wait_phase("default", "first", "Succeeded")
    second = await cluster.wait_phase("default", "second", "Succeeded")
    assert second["revisionBefore"] == first["revisionAfter"]
    order = [pod for repo, pod in kubelet.sim.activity.started]
    assert len(order) == 2
    assert "-first-" in order[0]
    assert "-second-" in order[1]


async def test_queue_positions_follow_creation_order(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    kubelet.fates["a-head"] = Fate(seconds=2.0)
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("a-head"))
    await cluster.wait_phase("default", "a-head", "Running")
    for name in ("b", "c"):
        await cluster.create_transaction(transaction(name))

    positions = {}
    for name in ("b", "c"):
        positions[name] = (await cluster.wait_phase("default", name, "Queued"))["queuePosition"]
    assert positions == {"b": 1, "c": 2}
    for name in ("b", "c"):
        await cluster.wait_phase("default", name, "Succeeded")
    order = [pod.split("-default-")[1].rsplit("-", 1)[0] for _, pod in kubelet.sim.activity.started]
    assert order == ["a-head", "b", "c"]


async def test_two_repositories_publish_in_parallel(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    kubelet.fates["one"] = Fate(seconds=3.0)
    kubelet.fates["two"] = Fate(seconds=3.0)
    await cluster.create_repository(repository("one.example.org"))
    await cluster.create_repository(repository("two.example.org"))
    await cluster.create_transaction(transaction("one", repo="one.example.org"))
    await cluster.create_transaction(transaction("two", repo="two.example.org"))

    async def both_running() -> bool:
        one = await cluster.status("default", "one")
        two = await cluster.status("default", "two")
        return one.get("phase") == "Running" and two.get("phase") == "Running"
    await eventually(both_running, timeout=30, what="both Transactions Running at once")
    await cluster.wait_phase("default", "one", "Succeeded")
    await cluster.wait_phase("default", "two", "Succeeded")
