"""RepositoryOperations refused before any pod (Failed with a precise reason), or held Pending;
a failed check fails the operation and makes the Repository Degraded."""

from __future__ import annotations

from typing import Any

from cvmfs_operator.api.operation_contract import OperationErrorClass
from tests.integration.operator.conftest import FQRN, OPERATOR_NAMESPACE, Kubelet, RepoFactory
from tests.support import operations as ops
from tests.support.cluster import Cluster, OperatorProcess, eventually


async def test_refusals_name_their_reason_and_start_no_pod(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    await cluster.create_repository(repository())  # no master key, no garbage collection
    gateway = repository("gw.example.org", seed=False)
    gateway["spec"]["stratum0"] = {"url": gateway["spec"]["stratum0"]["url"], "gateway": {
        "url": "http://gateway.example.org:4929/api/v1", "keySecretRef": {"name": "gw"}}}
    await cluster.create_repository(gateway)
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "outsider": (ops.operation("outsider", FQRN, namespace="elsewhere", check={}), "NamespaceNotAllowed"),
        "no-gc": (ops.operation("no-gc", FQRN, gc={}), "GarbageCollectionDisabled"),
        "no-master-key": (ops.operation("no-master-key", FQRN, resign={}), "NoMasterKey"),
        "via-gateway": (ops.operation("via-gateway", "gw.example.org", tag={"action": "add", "name": "x"}),
                        "NotSupportedWithGateway"),
        # No admission in the emulator: what the CRD's CEL refuses reaches the operator.
        "two-kinds": (ops.operation("two-kinds", FQRN, gc={}, check={}), "InvalidSpec"),
        "trunk": (ops.operation("trunk", FQRN, rollback={"tag": "trunk"}), "InvalidSpec"),
    }
    for body, _ in cases.values():
        await ops.create(cluster, body)
    for name, (body, reason) in cases.items():
        status = await ops.wait_phase(cluster, body["metadata"]["namespace"], name, "Failed")
        assert status["reason"] == reason, status
        assert status["completionTime"]
        assert {c["type"]: c["status"] for c in status["conditions"]}["Stalled"] == "True"
    assert "spec must set exactly one" in (await ops.status(cluster, "default", "two-kinds"))["message"]
    assert not kubelet.sim.activity.started  # no pod at all

    # The operator's own namespace is always allowed (scheduled operations are made there).
    await ops.create(cluster, ops.operation("own", FQRN, namespace=OPERATOR_NAMESPACE, check={}))
    assert (await ops.wait_phase(cluster, OPERATOR_NAMESPACE, "own", "Succeeded"))["reason"] == "CheckPassed"


async def test_an_operation_waits_pending_for_its_repository(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    await ops.create(cluster, ops.operation("early", FQRN, check={}))
    pending = await ops.wait_phase(cluster, "default", "early", "Pending")
    assert pending["reason"] == "RepositoryNotFound"
    assert pending["operation"] == "check"
    await cluster.create_repository(repository())
    await ops.wait_phase(cluster, "default", "early", "Succeeded")


async def test_a_failed_check_fails_and_makes_the_repository_degraded(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    kubelet.fates["broken"] = ops.failing(
        "check", OperationErrorClass.CHECK_FAILED, "CATALOG PROBLEMS OR OTHER ERRORS FOUND",
        revisionBefore=2, check={"passed": False, "findings": ["data chunk 1234 (/a) missing"]})
    await cluster.create_repository(repository())
    await ops.create(cluster, ops.operation("broken", FQRN, check={}, backoffLimit=3))
    failed = await ops.wait_phase(cluster, "default", "broken", "Failed")
    assert failed["reason"] == "CheckFailed"
    assert failed["attempts"] == 1  # not retried: the repository is damaged
    assert failed["check"] == {"passed": False, "revision": 2, "problems": ["data chunk 1234 (/a) missing"]}

    async def degraded() -> dict[str, Any] | None:
        status = ((await cluster.repository(FQRN)) or {}).get("status") or {}
        conditions = {c["type"]: c for c in status.get("conditions", [])}
        found = conditions.get("Degraded", {})
        return status if (found.get("status"), found.get("reason")) == ("True", "CheckFailed") else None
    repo = await eventually(degraded, timeout=30, what="Repository Degraded=True CheckFailed")
    assert repo["lastCheck"]["result"] == "Failed"
    assert any("CATALOG PROBLEMS" in event for event in await cluster.events_for("", FQRN)) or \
        any("CATALOG PROBLEMS" in event for event in await cluster.events_for("default", FQRN))

    # A later check that passes clears it.
    await ops.create(cluster, ops.operation("fixed", FQRN, check={}))
    await ops.wait_phase(cluster, "default", "fixed", "Succeeded")

    async def healthy() -> bool:
        status = ((await cluster.repository(FQRN)) or {}).get("status") or {}
        return any(c["type"] == "Degraded" and c["status"] == "False" for c in status.get("conditions", []))
    await eventually(healthy, timeout=30, what="Degraded=False after a passing check")
