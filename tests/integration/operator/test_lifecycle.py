"""A Transaction's life on a cluster: queue, publisher pod, result, teardown."""

from __future__ import annotations

import re

from cvmfs_operator.api import contract
from tests.integration.operator.conftest import FQRN, Fate, Kubelet, RepoFactory, transaction
from tests.support.cluster import Cluster, OperatorProcess, eventually


async def test_happy_path_publishes_records_and_removes_the_pod(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    await cluster.create_repository(repository())
    created = await cluster.create_transaction(transaction("release-1"))

    status = await cluster.wait_phase("default", "release-1", "Succeeded")

    assert status["reason"] == "Published"
    assert status["revisionAfter"] == status["revisionBefore"] + 1
    assert status["tag"] == "default_release-1"
    assert status["attempts"] == 1
    assert re.fullmatch(r"\d+s", status["duration"]), status["duration"]  # the Duration column
    assert status["logTail"]
    assert "published" in status["logTail"][-1]
    ready = {c["type"]: c for c in status["conditions"]}
    assert ready["Ready"]["status"] == "True"
    assert ready["Reconciling"]["status"] == "False"
    assert ready["Stalled"]["status"] == "False"
    assert status["observedGeneration"] == created["metadata"]["generation"]

    async def cleaned_up() -> bool:
        pods = await cluster.publisher_pods(created["metadata"]["uid"])
        return not pods and await cluster.lock_holder(FQRN) is None
    await eventually(cleaned_up, timeout=30, what="pod deleted and lock released")
    repo = await cluster.repository(FQRN)
    assert repo is not None
    assert repo["status"]["revision"] == status["revisionAfter"]
    assert repo["status"]["rootHash"] == status["rootHash"]
    assert repo["status"]["reflogChecksum"] == status["reflogChecksum"]
    assert repo["status"].get("activeTransaction") is None


async def test_publisher_failure_is_reported_with_reason_and_log_tail(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    log = [f"line {i}" for i in range(100)]
    kubelet.fates["broken"] = Fate.fail(contract.ErrorClass.PUBLISH_FAILED, "Signing failed", log=log)
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("broken", backoffLimit=0))

    status = await cluster.wait_phase("default", "broken", "Failed")

    assert status["reason"] == "PublishFailed"
    assert "Signing failed" in status["message"]
    assert status["logTail"] == log[-40:]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"Ready": "False", "Reconciling": "False", "Stalled": "True", "Published": "False"}
    await eventually(lambda: cluster.idle(FQRN), timeout=30, what="pod deleted and lock released")

