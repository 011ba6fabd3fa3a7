"""Scheduled maintenance and automatic re-signing: the operator creates RepositoryOperations in its
own namespace, one per schedule slot (or per whitelist expiry renewed), and they run like any other."""

from __future__ import annotations

import datetime
from typing import Any

from cvmfs_operator.api.types import GROUP, OPERATION_PLURAL, VERSION
from cvmfs_operator.render import names
from cvmfs_operator.render.operation import ANNOTATION_SLOT
from tests.integration.operator.conftest import FQRN, OPERATOR_NAMESPACE, Kubelet, RepoFactory
from tests.support import operations as ops
from tests.support.cluster import Cluster, OperatorProcess, eventually

MASTER_KEY = {"masterKeySecretRef": {"name": "software-example-org-masterkey"}}


async def _scheduled(cluster: Cluster) -> list[dict[str, Any]]:
    data = await cluster._run(cluster.kube._call, "list", cluster.kube.custom.list_namespaced_custom_object,
                              GROUP, VERSION, OPERATOR_NAMESPACE, OPERATION_PLURAL)
    return [item for item in data.get("items", [])
            if (item["metadata"].get("labels") or {}).get(names.LABEL_COMPONENT) == "maintenance"]


async def _conditions(cluster: Cluster) -> dict[str, dict[str, Any]]:
    status = ((await cluster.repository(FQRN)) or {}).get("status") or {}
    return {c["type"]: c for c in status.get("conditions", [])}


async def test_scheduled_gc_and_check_create_one_operation_per_slot(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    await cluster.create_repository(repository(
        settings={"garbageCollection": True, "autoTag": False},
        maintenance={"gc": {"schedule": "* * * * *", "keepRevisions": 2},
                     "check": {"schedule": "* * * * *", "chunks": False}}))

    async def both_done() -> list[dict[str, Any]] | None:
        found = await _scheduled(cluster)
        kinds = {item["spec"].keys() - {"repository"} and next(iter(item["spec"].keys() - {"repository"}))
                 for item in found if (item.get("status") or {}).get("phase") == "Succeeded"}
        return found if {"gc", "check"} <= kinds else None
    found = await eventually(both_done, timeout=60, what="a scheduled gc and check Succeeded")
    per_slot: dict[tuple[str, str], list[str]] = {}
    for item in found:
        kind = next(iter(item["spec"].keys() - {"repository"}))
        per_slot.setdefault((item["metadata"]["annotations"][ANNOTATION_SLOT], kind), []).append(
            item["metadata"]["name"])
    assert all(len(names_) == 1 for names_ in per_slot.values()), per_slot
    gc = next(item for item in found if "gc" in item["spec"])
    assert gc["spec"]["gc"] == {"keepRevisions": 2}
    assert gc["metadata"]["name"].startswith("gc-")
    check = next(item for item in found if "check" in item["spec"])
    assert check["spec"]["check"] == {"chunks": False}

    async def recorded() -> dict[str, Any] | None:
        status = ((await cluster.repository(FQRN)) or {}).get("status") or {}
        return status if status.get("lastGC") and status.get("lastCheck") else None
    status = await eventually(recorded, timeout=30, what="lastGC and lastCheck")
    assert status["lastGC"]["operation"].startswith(f"{OPERATOR_NAMESPACE}/gc-")
    assert status["lastCheck"]["result"] == "Succeeded"


async def test_the_whitelist_is_resigned_once_before_it_expires(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    await cluster.create_repository(repository(whitelist_days=3, **MASTER_KEY))

    async def resigned() -> list[dict[str, Any]] | None:
        found = [item for item in await _scheduled(cluster) if "resign" in item["spec"]]
        return found if found and (found[0].get("status") or {}).get("phase") == "Succeeded" else None
    found = await eventually(resigned, timeout=60, what="an automatic resign Succeeded")
    assert len(found) == 1
    assert found[0]["metadata"]["name"].startswith("resign-")
    assert found[0]["spec"]["resign"] == {"whitelistDays": 30}

    async def renewed() -> dict[str, Any] | None:
        status = ((await cluster.repository(FQRN)) or {}).get("status") or {}
        expires = status.get("whitelistExpiresAt")
        soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=20)
        return status if expires and expires > soon.strftime("%Y-%m-%dT%H:%M:%SZ") else None
    status = await eventually(renewed, timeout=30, what="the Repository showing the new expiry")
    assert status["lastResign"]["result"] == "Succeeded"
    assert any("whitelist re-signed" in event for event in await cluster.events_for("default", FQRN))

    async def not_expiring() -> bool:
        return bool((await _conditions(cluster))["WhitelistExpiringSoon"]["status"] == "False")
    await eventually(not_expiring, timeout=30, what="WhitelistExpiringSoon=False after the re-read")
    # Health reads go on; the renewed whitelist asks for nothing more.
    await ops.create(cluster, ops.operation("probe", FQRN, check={}))
    await ops.wait_phase(cluster, "default", "probe", "Succeeded")
    assert len([item for item in await _scheduled(cluster) if "resign" in item["spec"]]) == 1


async def test_without_a_master_key_the_repository_says_so_well_before_expiry(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    await cluster.create_repository(repository(whitelist_days=10))

    async def missing() -> dict[str, Any] | None:
        condition = (await _conditions(cluster)).get("MasterKeyMissing")
        return condition if condition and condition["status"] == "True" else None
    condition = await eventually(missing, timeout=30, what="MasterKeyMissing=True")
    assert "masterKeySecretRef" in condition["message"]
    assert (await _conditions(cluster))["WhitelistExpiringSoon"]["status"] == "False"  # 10 days: not yet
    assert not await _scheduled(cluster)  # nothing it could run
