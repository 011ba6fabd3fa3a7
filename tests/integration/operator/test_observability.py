"""What an SRE reads at 3 a.m.: Events on the Transaction, Prometheus metrics, a liveness probe."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

from tests.integration.operator.conftest import Kubelet, RepoFactory, transaction
from tests.support.cluster import Cluster, OperatorProcess, eventually, free_port
from tests.support.s3 import SECRET_KEY


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status), response.read().decode()
    except OSError:
        return 0, ""


async def test_metrics_liveness_and_events(
        cluster: Cluster, kubelet: Kubelet, repository: RepoFactory, operator_env: dict[str, str],
        tmp_path: Path) -> None:
    metrics, liveness = free_port(), free_port()
    process = OperatorProcess({**operator_env, "CVMFS_OPERATOR_METRICS_PORT": str(metrics),
                               "CVMFS_OPERATOR_LIVENESS_PORT": str(liveness)}, tmp_path / "operator.log")
    process.start()
    try:
        async def alive() -> bool:
            status, _ = await asyncio.to_thread(_get, f"http://127.0.0.1:{liveness}/healthz")
            return status == 200
        await eventually(alive, timeout=30, what="the liveness endpoint")

        await cluster.create_repository(repository())
        await cluster.create_transaction(transaction("observed"))
        await cluster.wait_phase("default", "observed", "Succeeded")

        async def counted() -> str | None:
            status, text = await asyncio.to_thread(_get, f"http://127.0.0.1:{metrics}/metrics")
            wanted = ('cvmfs_operator_transactions_finished_total{phase="Succeeded",reason="Published",'
                      'repository="software.example.org"} 1.0')
            return text if status == 200 and wanted in text else None
        text = await eventually(counted, timeout=30, what="the finished counter in /metrics")
        assert 'cvmfs_operator_publisher_pods_started_total{repository="software.example.org"} 1.0' in text
        assert "cvmfs_operator_publish_duration_seconds_count" in text

        async def posted() -> list[str] | None:
            events = await cluster.events_for("default", "observed")
            return events if any("Published revision 3" in e for e in events) else None
        events = await eventually(posted, timeout=30, what="Events on the Transaction")
        assert any("Created publisher pod" in event for event in events), events
    finally:
        await asyncio.to_thread(process.stop)
    assert "Traceback" not in process.log()
    assert SECRET_KEY not in process.log()
