"""RepositoryOperations share the repository's FIFO queue and lock with Transactions (never two pods
of a repository at once), and run exactly once: re-applied they do nothing, re-created they find
their effect already there."""

from __future__ import annotations

import asyncio
from typing import Any

from cvmfs_operator.api.types import GROUP, OPERATION_PLURAL, VERSION
from tests.integration.operator.conftest import FQRN, Fate, Kubelet, RepoFactory, transaction
from tests.support import operations as ops
from tests.support.cluster import Cluster, OperatorProcess, eventually


def _order(kubelet: Kubelet) -> list[str]:
    """The names of the objects whose pods the kubelet ran, in order."""
    return [pod.split("-default-", 1)[1].rsplit("-", 1)[0] for _, pod in kubelet.sim.activity.started]


async def test_an_operation_queues_between_transactions_in_creation_order(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    kubelet.fates["first"] = Fate(seconds=2.0)
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("first", tag={"name": "v1"}))
    await cluster.wait_phase("default", "first", "Running")
    await ops.create(cluster, ops.operation("tag-it", FQRN, tag={"action": "add", "name": "stable"}))
    queued = await ops.wait_phase(cluster, "default", "tag-it", "Queued")
    assert queued["queuePosition"] == 1
    assert "first" in queued["message"]
    await asyncio.sleep(1.1)  # creation times are whole seconds; a tie is ordered by name
    await cluster.create_transaction(transaction("last", tag={"name": "v2"}))

    first = await cluster.wait_phase("default", "first", "Succeeded")
    tagged = await ops.wait_phase(cluster, "default", "tag-it", "Succeeded")
    last = await cluster.wait_phase("default", "last", "Succeeded")
    assert tagged["revisionAfter"] == first["revisionAfter"]  # tagged what the first one published
    assert last["revisionBefore"] == first["revisionAfter"]
    assert _order(kubelet) == ["first", "tag-it", "last"]
    # The kubelet fixture asserts that no two pods of the repository were ever active at once.


async def test_a_transaction_waits_for_a_running_operation(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    kubelet.fates["slow-check"] = Fate(seconds=3.0)
    await cluster.create_repository(repository())
    await ops.create(cluster, ops.operation("slow-check", FQRN, check={}))
    await ops.wait_phase(cluster, "default", "slow-check", "Running")
    await cluster.create_transaction(transaction("after"))
    queued = await cluster.wait_phase("default", "after", "Queued")
    assert "slow-check" in queued["message"]
    await cluster.wait_phase("default", "after", "Succeeded")
    assert _order(kubelet) == ["slow-check", "after"]


async def test_reapplying_a_finished_operation_does_nothing_and_a_recreated_rollback_is_already_done(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    await cluster.create_repository(repository())
    for name, tag in (("one", "v1"), ("two", "v2")):
        await cluster.create_transaction(transaction(name, tag={"name": tag}))
        await cluster.wait_phase("default", name, "Succeeded")
    body = ops.operation("back", FQRN, rollback={"tag": "v1"})
    await ops.create(cluster, body)
    done = await ops.wait_phase(cluster, "default", "back", "Succeeded")
    assert done["revisionAfter"] == 5

    # GitOps re-applies the same manifest: the object changes (an annotation), the spec does not.
    await cluster._run(cluster.kube._call, "apply", cluster.kube.custom.patch_namespaced_custom_object,
                       GROUP, VERSION, "default", OPERATION_PLURAL, "back",
                       {"metadata": {"annotations": {"argocd.argoproj.io/tracking-id": "again"}}})
    await eventually(lambda: _annotated(cluster), timeout=10, what="the annotation")
    await ops.create(cluster, ops.operation("probe", FQRN, check={}))  # runs after anything re-queued
    await ops.wait_phase(cluster, "default", "probe", "Succeeded")
    assert (await ops.status(cluster, "default", "back")) == done
    assert _order(kubelet).count("back") == 1

    # Deleted and re-created (a new uid): the repository already is at tag v1.
    await ops.delete(cluster, "default", "back")
    await eventually(lambda: _gone(cluster), timeout=30, what="the rollback deleted")
    await ops.create(cluster, body)
    again = await ops.wait_phase(cluster, "default", "back", "Succeeded")
    assert again["reason"] == "AlreadyDone"
    assert again["revisionAfter"] == 5
    assert _order(kubelet).count("back") == 1  # no second pod


async def _annotated(cluster: Cluster) -> bool:
    found: dict[str, Any] = await ops.get(cluster, "default", "back") or {}
    return "argocd.argoproj.io/tracking-id" in (found.get("metadata", {}).get("annotations") or {})


async def _gone(cluster: Cluster) -> bool:
    return await ops.get(cluster, "default", "back") is None
