"""A Repository with spec.create: keys generated into two Secrets, cvmfs_server mkfs in a pod, then
Ready through the normal health read; never over a bucket that already holds the repository."""

from __future__ import annotations

import base64
from typing import Any

from tests.integration.operator.conftest import FQRN, OPERATOR_NAMESPACE, Kubelet, RepoFactory, transaction
from tests.support.cluster import Cluster, OperatorProcess, eventually

CREATE = {"create": {"whitelistDays": 20}, "keysSecretRef": {"name": "new-keys"},
          "masterKeySecretRef": {"name": "new-masterkey"}}


async def _conditions(cluster: Cluster) -> dict[str, dict[str, Any]]:
    status = ((await cluster.repository(FQRN)) or {}).get("status") or {}
    return {c["type"]: c for c in status.get("conditions", [])}


async def _secret(cluster: Cluster, name: str) -> dict[str, str] | None:
    try:
        data: dict[str, str] = await cluster._run(cluster.kube.read_secret, OPERATOR_NAMESPACE, name)
    except Exception:  # noqa: BLE001 - absent (a test helper: 404 or not yet)
        return None
    return data


async def test_a_repository_is_created_once_and_becomes_ready(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    # An administrator's master key Secret exists already: it is kept, never overwritten.
    await cluster.create_secret(OPERATOR_NAMESPACE, "new-masterkey", {f"{FQRN}.masterkey": "mine"})
    await cluster.create_repository(repository(seed=False, **CREATE))

    async def ready() -> dict[str, dict[str, Any]] | None:
        conditions = await _conditions(cluster)
        done = conditions.get("Created", {}).get("status") == "True"
        return conditions if done and conditions.get("Ready", {}).get("status") == "True" else None
    conditions = await eventually(ready, timeout=60, what="Created=True and Ready=True")
    assert "mkfs" in conditions["Created"]["message"]
    keys = await _secret(cluster, "new-keys")
    assert keys is not None
    assert sorted(keys) == [f"{FQRN}.crt", f"{FQRN}.key", f"{FQRN}.pub"]
    assert b"BEGIN CERTIFICATE" in base64.b64decode(keys[f"{FQRN}.crt"])
    master = await _secret(cluster, "new-masterkey")
    assert master is not None
    assert base64.b64decode(master[f"{FQRN}.masterkey"]) == b"mine"
    started = [pod for _, pod in kubelet.sim.activity.started]
    assert len(started) == 1
    assert started[0].startswith("cvmfs-op-a1-")

    # Publishing works on it (the first publish starts from the reflog mkfs made).
    await cluster.create_transaction(transaction("first"))
    published = await cluster.wait_phase("default", "first", "Succeeded")
    assert published["revisionAfter"] == 3
    assert len(kubelet.sim.activity.started) == 2  # mkfs ran once


async def test_a_bucket_that_already_holds_the_repository_is_refused(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    await cluster.create_repository(repository(seed=True, **CREATE))

    async def refused() -> dict[str, dict[str, Any]] | None:
        conditions = await _conditions(cluster)
        return conditions if conditions.get("Created", {}).get("reason") == "AlreadyExists" else None
    conditions = await eventually(refused, timeout=30, what="Created=False AlreadyExists")
    assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == ("False", "AlreadyExists")
    assert conditions["Stalled"]["status"] == "True"
    assert "already holds a repository" in conditions["Ready"]["message"]
    assert "prefix software.example.org" in conditions["Ready"]["message"]
    assert not kubelet.sim.activity.started  # mkfs never ran
    assert await _secret(cluster, "new-keys") is None
