"""The SRE's kit against the real operator: every metric the alerts and the dashboard query is
served on /metrics, the gauges say what the status says, the start-up line names the settings,
and the objects the operator writes read right in Argo CD (Lua) and Flux (kstatus)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cvmfs_operator.api import contract
from cvmfs_operator.clients.simkubelet import Fate
from cvmfs_operator.reconcile.observed import parse_time
from tests.integration.operator.conftest import FQRN, OPERATOR_NAMESPACE, Kubelet, RepoFactory, transaction
from tests.support.cluster import Cluster, OperatorProcess, eventually, free_port
from tests.support.gitops import CURRENT, FAILED, Health, argocd_health, kstatus
from tests.support.monitoring import ARGOCD, dashboard_expressions, referenced, rule_expressions
from tests.support.scrape import Exported, scrape


async def test_metrics_gauges_health_and_startup_line(
        cluster: Cluster, kubelet: Kubelet, repository: RepoFactory, operator_env: dict[str, str],
        tmp_path: Path) -> None:
    port = free_port()
    process = OperatorProcess({**operator_env, "CVMFS_OPERATOR_METRICS_PORT": str(port)},
                              tmp_path / "operator.log")
    # Runs long enough to see a pod Running and a queue behind it, then fails.
    kubelet.fates["broken"] = Fate.fail(contract.ErrorClass.PUBLISH_FAILED, "publish failed (simulated)",
                                        seconds=6.0)
    process.start()
    try:
        await cluster.create_repository(repository())
        await cluster.create_transaction(transaction("broken", backoffLimit=0))
        await cluster.wait_phase("default", "broken", "Running")
        second = await cluster.create_transaction(transaction("second"))
        created = parse_time(second["metadata"]["creationTimestamp"])
        assert created is not None

        async def busy() -> Exported | None:
            seen = Exported(await asyncio.to_thread(scrape, port))
            running = seen.value("cvmfs_operator_publisher_pods", repository=FQRN, state="Running")
            waiting = seen.value("cvmfs_operator_queue_oldest_timestamp_seconds", repository=FQRN)
            # The oldest waiting one is "second" (the running one does not wait); a health read
            # that ran before the Repository recorded its active Transaction may still say otherwise.
            return seen if running == 1 and waiting == created.timestamp() else None
        during = await eventually(busy, timeout=30, what="a Running pod and a waiting queue in /metrics")
        assert during.value("cvmfs_operator_publisher_pod_oldest_timestamp_seconds",
                            repository=FQRN, state="Running") is not None

        await cluster.wait_phase("default", "broken", "Failed", timeout=60)
        await cluster.wait_phase("default", "second", "Succeeded", timeout=60)

        async def settled() -> Exported | None:
            seen = Exported(await asyncio.to_thread(scrape, port))
            # Counted just after the status is written: poll, do not assume.
            failed = seen.value("cvmfs_operator_transactions_finished_total", repository=FQRN,
                                phase="Failed", reason="PublishFailed")
            published = seen.value("cvmfs_operator_transactions_finished_total", repository=FQRN,
                                   phase="Succeeded", reason="Published")
            drained = seen.value("cvmfs_operator_queue_oldest_timestamp_seconds", repository=FQRN) is None
            idle = seen.value("cvmfs_operator_publisher_pods", repository=FQRN, state="Running") == 0
            # The revision gauge follows the health loop's next manifest read (every 2 s here, later
            # on a loaded machine); the Repository's status has it from the publish at once.
            status = ((await cluster.repository(FQRN)) or {}).get("status") or {}
            read = seen.value("cvmfs_operator_repository_revision", repository=FQRN) == status.get("revision")
            return seen if failed == 1 and published == 1 and drained and idle and read else None
        after = await eventually(settled, timeout=30, what="the finished counters and an idle repository")

        # Every metric name the alerts and the dashboard query is served, with the labels they match on.
        for name, labels in referenced({**rule_expressions(), **dashboard_expressions()}).items():
            assert name in after.names, f"{name} is referenced but not exported"
            if name in after.labels:
                assert labels <= after.labels[name], f"{name} has no label {labels - after.labels[name]}"
        assert after.value("cvmfs_operator_publish_step_duration_seconds_count", repository=FQRN,
                           step="publish") == 1
        assert after.value("cvmfs_operator_build_info") == 1
        assert after.value("cvmfs_operator_api_errors_total", kind="kubernetes") == 0

        # The gauges agree with the Repository's status.
        repo = await cluster.repository(FQRN)
        assert repo is not None
        assert after.value("cvmfs_operator_repository_ready", repository=FQRN, reason="Published") == 1
        expires = parse_time(repo["status"]["whitelistExpiresAt"])
        assert expires is not None
        assert after.value("cvmfs_operator_repository_whitelist_expiry_timestamp_seconds", repository=FQRN) \
            == expires.replace(minute=0, second=0).timestamp()
        revision = repo["status"]["revision"]
        assert after.value("cvmfs_operator_repository_revision", repository=FQRN) == revision

        # What Argo CD and Flux make of the objects as the operator wrote them.
        good = await cluster.transaction("default", "second")
        bad = await cluster.transaction("default", "broken")
        assert good is not None
        assert bad is not None
        assert argocd_health(ARGOCD / "Transaction" / "health.lua", good).status == "Healthy"
        assert argocd_health(ARGOCD / "Transaction" / "health.lua", bad) == Health(
            "Degraded", f"Failed (PublishFailed): {bad['status']['message']}")
        assert argocd_health(ARGOCD / "Repository" / "health.lua", repo).status == "Healthy"
        assert kstatus(good).status == CURRENT
        assert kstatus(bad).status == FAILED
        assert kstatus(repo).status == CURRENT
    finally:
        await asyncio.to_thread(process.stop)
    log = process.log()
    assert f"starting with namespace={OPERATOR_NAMESPACE} " in log
    assert f"metrics_port={port} " in log
    assert "Traceback" not in log
