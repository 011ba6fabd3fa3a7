"""Repository status comes from the repository itself: the manifest and whitelist in S3."""

from __future__ import annotations

import socket
from typing import Any

from tests.integration.operator.conftest import FQRN, Kubelet, RepoFactory, transaction
from tests.support.cluster import Cluster, OperatorProcess, eventually


def _conditions(repo: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in ((repo or {}).get("status") or {}).get("conditions", [])}


async def _wait_condition(cluster: Cluster, name: str, kind: str, status: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        repo = await cluster.repository(name)
        condition = _conditions(repo).get(kind)
        return repo if condition is not None and condition["status"] == status else None
    result: dict[str, Any] = await eventually(check, timeout=30, what=f"{name} {kind}={status}")
    return result


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_healthy_repository_reports_revision_and_whitelist_expiry(
        cluster: Cluster, operator: OperatorProcess, repository: RepoFactory) -> None:
    await cluster.create_repository(repository())

    repo = await _wait_condition(cluster, FQRN, "Ready", "True")

    status = repo["status"]
    assert status["revision"] == 2
    assert len(status["rootHash"]) == 40
    assert status["whitelistExpiresAt"].endswith("Z")
    assert status["publishedAt"].endswith("Z")
    conditions = _conditions(repo)
    assert conditions["Unreachable"]["status"] == "False"
    assert conditions["Degraded"]["status"] == "False"
    assert conditions["WhitelistExpiringSoon"]["status"] == "False"


async def test_status_follows_a_publish(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    await cluster.create_repository(repository())
    await _wait_condition(cluster, FQRN, "Ready", "True")
    await cluster.create_transaction(transaction("bump"))
    done = await cluster.wait_phase("default", "bump", "Succeeded")

    async def revision_moved() -> bool:
        repo = await cluster.repository(FQRN)
        return bool(repo and repo["status"].get("revision") == done["revisionAfter"] == 3)
    await eventually(revision_moved, timeout=30, what="Repository revision 3")


async def test_a_soon_expiring_whitelist_raises_a_condition(
        cluster: Cluster, operator: OperatorProcess, repository: RepoFactory) -> None:
    await cluster.create_repository(repository(whitelist_days=2))

    repo = await _wait_condition(cluster, FQRN, "WhitelistExpiringSoon", "True")

    assert _conditions(repo)["Ready"]["status"] == "True"
    assert "whitelist" in _conditions(repo)["WhitelistExpiringSoon"]["message"].lower()


async def test_an_expired_whitelist_makes_the_repository_not_ready(
        cluster: Cluster, operator: OperatorProcess, repository: RepoFactory) -> None:
    await cluster.create_repository(repository(whitelist_days=-1))

    repo = await _wait_condition(cluster, FQRN, "Ready", "False")

    assert _conditions(repo)["Ready"]["reason"] == "WhitelistExpired"
    assert _conditions(repo)["Degraded"]["status"] == "True"


async def test_a_missing_manifest_and_an_unreachable_endpoint_are_reported_without_stalling_others(
        cluster: Cluster, operator: OperatorProcess, repository: RepoFactory) -> None:
    healthy = repository("healthy.example.org")
    empty = repository("empty.example.org", seed=False)
    down = repository("down.example.org", seed=False)
    down["spec"]["stratum0"]["s3"]["endpoint"] = f"http://127.0.0.1:{_closed_port()}"
    for body in (down, empty, healthy):
        await cluster.create_repository(body)

    await _wait_condition(cluster, "healthy.example.org", "Ready", "True")
    empty_repo = await _wait_condition(cluster, "empty.example.org", "Ready", "False")
    assert _conditions(empty_repo)["Ready"]["reason"] == "ManifestMissing"
    down_repo = await _wait_condition(cluster, "down.example.org", "Unreachable", "True")
    assert _conditions(down_repo)["Ready"]["status"] == "False"
    assert "127.0.0.1" in _conditions(down_repo)["Unreachable"]["message"]


async def test_a_transaction_on_an_unreachable_repository_says_so_and_starts_nothing(
        cluster: Cluster, operator: OperatorProcess, kubelet: Kubelet, repository: RepoFactory) -> None:
    down = repository("down.example.org", seed=False)
    down["spec"]["stratum0"]["s3"]["endpoint"] = f"http://127.0.0.1:{_closed_port()}"
    await cluster.create_repository(down)
    await cluster.create_transaction(transaction("blocked", repo="down.example.org"))

    async def told() -> dict[str, Any] | None:
        status = await cluster.status("default", "blocked")
        return status if status.get("reason") == "Stratum0Unreachable" else None
    status = await eventually(told, timeout=30, what="the Transaction's Stratum0Unreachable status")
    assert status["phase"] == "Queued", status
    assert "127.0.0.1" in status["message"], status
    assert not kubelet.started("blocked")
