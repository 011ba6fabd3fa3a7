"""Objects that skipped admission (no CRD schema here) fail precisely and stall nothing else."""

from __future__ import annotations

from tests.integration.operator.conftest import FQRN, Kubelet, RepoFactory, transaction
from tests.support.cluster import Cluster, OperatorProcess, eventually


async def test_a_malformed_transaction_fails_naming_its_fields_and_others_still_publish(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    await cluster.create_repository(repository())
    bad = transaction("bad", path="../etc", payload={"tarball": {"url": "x"}, "script": {"source": "id"}})
    await cluster.create_transaction(bad)
    no_spec = transaction("empty")
    del no_spec["spec"]
    await cluster.create_transaction(no_spec)
    await cluster.create_transaction(transaction("good"))

    status = await cluster.wait_phase("default", "bad", "Failed")
    assert status["reason"] == "InvalidSpec"
    assert "spec.path must be absolute" in status["message"]
    assert "spec.payload must set exactly one of" in status["message"]
    empty = await cluster.wait_phase("default", "empty", "Failed")
    assert empty["message"] == "spec is required"
    await cluster.wait_phase("default", "good", "Succeeded")
    assert kubelet.started("bad") == []


async def test_a_malformed_repository_holds_its_transactions_with_a_reason(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    body = repository()
    del body["spec"]["stratum0"]["s3"]["bucket"]
    await cluster.create_repository(body)
    await cluster.create_transaction(transaction("waits"))

    status = await cluster.wait_phase("default", "waits", "Pending")
    assert status["reason"] == "RepositoryInvalid"
    assert "spec.stratum0.s3.bucket is required" in status["message"]

    async def not_ready() -> bool:
        repo = await cluster.repository(FQRN)
        conditions = {c["type"]: c for c in ((repo or {}).get("status") or {}).get("conditions", [])}
        ready = conditions.get("Ready", {})
        return ready.get("status") == "False" and "spec.stratum0.s3.bucket" in ready.get("message", "")
    await eventually(not_ready, timeout=30, what="Repository Ready=False naming the missing field")
    assert kubelet.started("waits") == []


async def test_a_description_cvmfs_server_would_evaluate_fails_before_any_pod(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    """The emulator has no admission: the operator's own check refuses what the CRD would."""
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("hostile", tag={"description": "notes; touch /tmp/x #"}))

    status = await cluster.wait_phase("default", "hostile", "Failed")

    assert status["reason"] == "InvalidSpec"
    assert "spec.tag.description contains '#' ';'" in status["message"]
    assert "cvmfs_server evaluates the description with a shell" in status["message"]
    assert kubelet.started("hostile") == []


async def test_a_gateway_lease_path_the_shell_would_split_fails_before_any_pod(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    body = repository()
    body["spec"]["stratum0"] = {"url": body["spec"]["stratum0"]["url"], "gateway": {
        "url": "http://gateway.example.org:4929/api/v1", "keySecretRef": {"name": "gw"}}}
    await cluster.create_repository(body)
    await cluster.create_transaction(transaction("spaced", path="/releases/my release"))

    status = await cluster.wait_phase("default", "spaced", "Failed")

    assert status["reason"] == "InvalidPath"
    assert "publishes through a gateway" in status["message"]
    assert kubelet.started("spaced") == []
