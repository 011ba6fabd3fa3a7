"""Retries of RepositoryOperations: only for failures that left the repository unchanged, and never
twice in effect: a pod lost after it tagged is recognised from the repository (Recovered)."""

from __future__ import annotations

from cvmfs_operator.api.operation_contract import OperationErrorClass
from tests.integration.operator.conftest import FQRN, Fate, Kubelet, RepoFactory
from tests.support import operations as ops
from tests.support.cluster import Cluster, OperatorProcess


async def test_a_busy_repository_is_tried_again_and_a_lost_pod_that_tagged_is_recovered(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    kubelet.fates["busy"] = [ops.failing("check", OperationErrorClass.BUSY, "a transaction is open"), Fate()]
    kubelet.fates["lost"] = Fate(vanish=True, publishes=True)  # tags, then the node goes away
    await cluster.create_repository(repository())
    await ops.create(cluster, ops.operation("busy", FQRN, check={}, backoffLimit=1))
    busy = await ops.wait_phase(cluster, "default", "busy", "Succeeded")
    assert busy["attempts"] == 2
    assert busy["lastFailure"]["reason"] == "Busy"

    await ops.create(cluster, ops.operation("lost", FQRN, tag={"action": "add", "name": "stable"}))
    lost = await ops.wait_phase(cluster, "default", "lost", "Succeeded")
    assert lost["reason"] == "Recovered"
    assert lost["attempts"] == 1  # no second pod: the tag was found in the repository
    assert len([pod for _, pod in kubelet.sim.activity.started if "-lost-" in pod]) == 1


async def test_a_tag_that_does_not_exist_fails_without_a_retry(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    await cluster.create_repository(repository())
    await ops.create(cluster, ops.operation("nowhere", FQRN, rollback={"tag": "no-such-tag"}, backoffLimit=3))
    failed = await ops.wait_phase(cluster, "default", "nowhere", "Failed")
    assert failed["reason"] == "NotFound"
    assert failed["attempts"] == 1
    assert "no-such-tag" in failed["message"]
    warnings = await cluster.events_for("default", "nowhere")
    assert any("no-such-tag" in event for event in warnings)
