"""Deadlines, retries, deletion, restarts and refusals: every way a Transaction can end."""

from __future__ import annotations

import asyncio
from typing import Any

from cvmfs_operator.api import contract
from cvmfs_operator.render import names
from tests.integration.operator.conftest import FQRN, Fate, Kubelet, RepoFactory, transaction
from tests.support import operations as ops
from tests.support.cluster import Cluster, OperatorProcess, eventually


async def test_deadline_exceeded_fails_without_retry(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    kubelet.fates["slow"] = Fate(hang=True)
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("slow", timeoutSeconds=1, backoffLimit=2))

    status = await cluster.wait_phase("default", "slow", "Failed")

    assert status["reason"] == "DeadlineExceeded"
    assert "timeoutSeconds" in status["message"]
    assert status["attempts"] == 1
    assert len(kubelet.started("slow")) == 1
    await eventually(lambda: cluster.idle(FQRN), timeout=30, what="pod deleted and lock released")


async def test_a_retryable_failure_is_retried_within_backoff_limit(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    kubelet.fates["flaky"] = [Fate.fail(contract.ErrorClass.ATTACH_FAILED, "S3 endpoint timed out"), Fate()]
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("flaky", backoffLimit=1))

    status = await cluster.wait_phase("default", "flaky", "Succeeded")

    assert status["attempts"] == 2
    assert status["lastFailure"]["reason"] == "AttachFailed"
    assert len(kubelet.started("flaky")) == 2


async def test_retries_stop_at_backoff_limit(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    kubelet.fates["down"] = Fate.fail(contract.ErrorClass.ATTACH_FAILED, "S3 endpoint timed out")
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("down", backoffLimit=1))

    status = await cluster.wait_phase("default", "down", "Failed")

    assert status["reason"] == "AttachFailed"
    assert status["attempts"] == 2
    assert "gave up after 2 attempts" in status["message"]


async def test_deleting_a_running_transaction_stops_its_pod_and_the_queue_advances(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    kubelet.fates["stuck"] = Fate(hang=True)
    await cluster.create_repository(repository())
    stuck = await cluster.create_transaction(transaction("stuck"))
    await cluster.wait_phase("default", "stuck", "Running")
    await cluster.create_transaction(transaction("next"))
    await cluster.wait_phase("default", "next", "Queued")

    await cluster.delete_transaction("default", "stuck")

    await cluster.wait_gone("default", "stuck")
    assert await cluster.publisher_pods(stuck["metadata"]["uid"]) == []
    await cluster.wait_phase("default", "next", "Succeeded")
    await eventually(lambda: cluster.idle(FQRN), timeout=30, what="pod deleted and lock released")


async def test_deleting_a_queued_transaction_leaves_nothing_behind(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    kubelet.fates["head"] = Fate(seconds=2.0)
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("head"))
    await cluster.wait_phase("default", "head", "Running")
    await cluster.create_transaction(transaction("waiting"))
    await cluster.wait_phase("default", "waiting", "Queued")

    await cluster.delete_transaction("default", "waiting")

    await cluster.wait_gone("default", "waiting")
    await cluster.wait_phase("default", "head", "Succeeded")
    assert kubelet.started("waiting") == []
    await eventually(lambda: cluster.idle(FQRN), timeout=30, what="pod deleted and lock released")


async def test_an_operator_restarted_mid_run_adopts_the_pod_and_never_starts_a_second(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    kubelet.fates["long"] = Fate(seconds=4.0)
    await cluster.create_repository(repository())
    created = await cluster.create_transaction(transaction("long"))
    await cluster.wait_phase("default", "long", "Running")

    operator.stop(kill=True)
    operator.start()

    status = await cluster.wait_phase("default", "long", "Succeeded")
    assert status["attempts"] == 1
    assert len(kubelet.started("long")) == 1
    async def pod_gone() -> bool:
        return await cluster.publisher_pods(created["metadata"]["uid"]) == []
    await eventually(pod_gone, timeout=30, what="the adopted pod deleted")


async def test_operator_killed_right_after_acquiring_the_lock_resumes(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    await cluster.create_repository(repository())
    operator.stop(kill=True)
    await cluster.create_transaction(transaction("resume"))
    operator.start()
    await cluster.wait_phase("default", "resume", "Succeeded")
    assert len(kubelet.started("resume")) == 1


async def test_a_missing_repository_keeps_the_transaction_pending_until_it_appears(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    await cluster.create_transaction(transaction("early"))

    pending = await cluster.wait_phase("default", "early", "Pending")
    assert pending["reason"] == "RepositoryNotFound"
    assert FQRN in pending["message"]
    reconciling = {c["type"]: c for c in pending["conditions"]}["Reconciling"]
    assert reconciling["status"] == "True"
    assert reconciling["reason"] == "RepositoryNotFound"

    await cluster.create_repository(repository())
    await cluster.wait_phase("default", "early", "Succeeded")


async def test_a_namespace_the_repository_does_not_allow_fails_without_a_pod(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("intruder", namespace="elsewhere"))

    status = await cluster.wait_phase("elsewhere", "intruder", "Failed")

    assert status["reason"] == "NamespaceNotAllowed"
    assert "spec.allowedNamespaces" in status["message"]
    assert kubelet.started("intruder") == []
    assert await cluster.lock_holder(FQRN) is None


async def test_a_script_payload_is_refused_where_the_repository_forbids_scripts(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    repo = repository()
    repo["spec"]["publisher"]["allowScripts"] = False
    await cluster.create_repository(repo)
    await cluster.create_transaction(transaction("scripted", payload={"script": {"source": "true"}}))

    status = await cluster.wait_phase("default", "scripted", "Failed")

    assert status["reason"] == "ScriptsNotAllowed"
    assert "spec.publisher.allowScripts" in status["message"]
    assert kubelet.started("scripted") == []


async def test_a_failed_pod_is_kept_for_ttl_seconds_after_finished(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    kubelet.fates["kept"] = Fate.fail(contract.ErrorClass.PUBLISH_FAILED, "Signing failed")
    await cluster.create_repository(repository())
    created = await cluster.create_transaction(transaction("kept", backoffLimit=0, ttlSecondsAfterFinished=3))
    await cluster.wait_phase("default", "kept", "Failed")

    async def lock_free() -> bool:
        return await cluster.lock_holder(FQRN) is None
    await eventually(lock_free, timeout=30, what="lock released while the failed pod is kept")
    assert len(await cluster.publisher_pods(created["metadata"]["uid"])) == 1

    async def pod_gone() -> bool:
        return await cluster.publisher_pods(created["metadata"]["uid"]) == []
    await eventually(pod_gone, timeout=30, what="failed pod deleted after the TTL")
    assert await cluster.transaction("default", "kept") is not None  # the TTL never removes the CR


async def _force_delete_while_down(cluster: Cluster, operator: OperatorProcess, name: str, *,
                                   and_repository: bool = False) -> None:
    """While the operator is down, someone strips the Transaction's finalizer and deletes it
    (`kubectl patch --type=merge -p '{"metadata":{"finalizers":null}}'`, then delete), and perhaps
    its Repository too; then the operator starts again."""
    await asyncio.to_thread(operator.stop)
    await asyncio.to_thread(
        cluster.kube._call, "strip finalizers", cluster.kube.custom.patch_namespaced_custom_object,
        "cvmfs.cern.ch", "v1alpha1", "default", "transactions", name, {"metadata": {"finalizers": []}})
    await cluster.delete_transaction("default", name)
    if and_repository:
        await cluster.delete_repository(FQRN)
    await cluster.wait_gone("default", name)
    operator.start()


async def test_a_force_deleted_transaction_leaves_no_pod_and_does_not_block_the_repository(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    kubelet.fates["forced"] = Fate(hang=True)
    await cluster.create_repository(repository())
    forced = await cluster.create_transaction(transaction("forced"))
    await cluster.wait_phase("default", "forced", "Running")

    await _force_delete_while_down(cluster, operator, "forced")

    async def orphan_gone() -> bool:
        return await cluster.publisher_pods(forced["metadata"]["uid"]) == []
    await eventually(orphan_gone, timeout=30, what="the orphaned publisher pod deleted")
    await cluster.create_transaction(transaction("after"))
    await cluster.wait_phase("default", "after", "Succeeded")
    events = await cluster.events_for("default", FQRN)
    assert any("is gone" in event for event in events), events


async def test_a_pod_whose_transaction_and_repository_are_both_gone_is_stopped(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    """No Repository is left to sweep its pods: the pod's own owner reference still judges it."""
    kubelet.fates["stray"] = Fate(hang=True)
    await cluster.create_repository(repository())
    stray = await cluster.create_transaction(transaction("stray"))
    await cluster.wait_phase("default", "stray", "Running")
    await _force_delete_while_down(cluster, operator, "stray", and_repository=True)

    async def orphan_gone() -> bool:
        return await cluster.publisher_pods(stray["metadata"]["uid"]) == []
    await eventually(orphan_gone, timeout=30, what="the publisher pod of a deleted Repository deleted")
    assert "Traceback" not in operator.log()


async def test_a_force_deleted_operation_leaves_no_pod_and_does_not_block_the_repository(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    kubelet.fates["forced-check"] = Fate(hang=True)
    await cluster.create_repository(repository())
    forced = await ops.create(cluster, ops.operation("forced-check", FQRN, check={}))
    await ops.wait_phase(cluster, "default", "forced-check", "Running")
    uid = forced["metadata"]["uid"]

    async def its_pods() -> list[dict[str, Any]]:
        return [pod for pod in await ops.pods(cluster)
                if pod["metadata"]["labels"].get(names.LABEL_OPERATION_UID) == uid]
    assert len(await its_pods()) == 1

    # While the operator is down, someone strips the finalizer and deletes the RepositoryOperation.
    await asyncio.to_thread(operator.stop)
    await asyncio.to_thread(
        cluster.kube._call, "strip finalizers", cluster.kube.custom.patch_namespaced_custom_object,
        "cvmfs.cern.ch", "v1alpha1", "default", "repositoryoperations", "forced-check",
        {"metadata": {"finalizers": []}})
    await ops.delete(cluster, "default", "forced-check")

    async def deleted() -> bool:
        return await ops.get(cluster, "default", "forced-check") is None
    await eventually(deleted, timeout=30, what="the RepositoryOperation gone")
    operator.start()

    async def orphan_gone() -> bool:
        return await its_pods() == []
    await eventually(orphan_gone, timeout=30, what="the orphaned operation pod deleted")
    events = await cluster.events_for("default", FQRN)
    assert any("RepositoryOperation default/forced-check is gone" in event for event in events), events
    await cluster.create_transaction(transaction("after-forced"))  # the lock is broken once stale
    await cluster.wait_phase("default", "after-forced", "Succeeded")
