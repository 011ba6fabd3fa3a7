"""The client-side rate limit holds at the HTTP boundary: requests timed by the recording proxy."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator, Sequence

import pytest

from cvmfs_operator.api.types import REPOSITORY_PLURAL
from cvmfs_operator.cli.emulator import ApiEmulator
from cvmfs_operator.clients.kube import KubeClient, make_api_client
from cvmfs_operator.clients.ratelimit import TokenBucket
from tests.integration.operator.conftest import RepoFactory
from tests.support.apiproxy import ApiProxy, Record
from tests.support.cluster import Cluster, OperatorProcess, eventually

QPS, BURST = 4.0, 2
# The proxy stamps a request when its event loop gets to it; a busy moment (the GIL is shared with
# the emulator and moto) may stamp one late and the next on time: allow that much bunching.
SLACK = 2


@pytest.fixture
def proxy(api: ApiEmulator) -> Iterator[ApiProxy]:
    """The recording proxy on an event loop of its own, so that the emulator's work on the test's
    loop does not delay its time stamps."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="proxy", daemon=True)
    thread.start()
    running = ApiProxy(str(api.url))
    asyncio.run_coroutine_threadsafe(running.__aenter__(), loop).result(timeout=10)
    try:
        yield running
    finally:
        asyncio.run_coroutine_threadsafe(running.__aexit__(None, None, None), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture
def operator_env(operator_env: dict[str, str], proxy: ApiProxy) -> dict[str, str]:
    return {**operator_env, "CVMFS_OPERATOR_API_SERVER": proxy.url,
            "CVMFS_OPERATOR_API_QPS": str(QPS), "CVMFS_OPERATOR_API_BURST": str(BURST),
            "CVMFS_OPERATOR_HEALTH_CONCURRENCY": "16"}  # their first reads all at once


def excess(records: Sequence[Record], qps: float, burst: int) -> list[str]:
    """Every stretch of requests more than the bucket allows: n requests in t seconds need
    n <= burst + qps * t."""
    times = sorted(r.started for r in records)
    return [f"{j - i + 1} requests in {times[j] - times[i]:.2f} s"
            for i in range(len(times)) for j in range(i, len(times))
            if j - i + 1 > burst + qps * (times[j] - times[i]) + SLACK]


async def test_the_limit_holds_for_requests_from_many_threads(proxy: ApiProxy) -> None:
    kube = KubeClient(make_api_client(proxy.url, TokenBucket(QPS, BURST)))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        calls = [asyncio.wrap_future(pool.submit(kube.get_repository, f"r{i}.example.org"))
                 for i in range(12)]
        await asyncio.gather(*calls)
    records = [r for r in proxy.records if r.info.resource == REPOSITORY_PLURAL]
    assert len(records) == 12
    assert not excess(records, QPS, BURST)
    spread = max(r.started for r in records) - min(r.started for r in records)
    assert spread >= (12 - BURST) / QPS * 0.8  # without the limit: all at once


async def test_the_operator_keeps_to_its_configured_limit(
        cluster: Cluster, proxy: ApiProxy, operator: OperatorProcess, repository: RepoFactory) -> None:
    names = [f"r{i}.example.org" for i in range(24)]
    bodies = [await asyncio.to_thread(repository, name) for name in names]  # off the proxy's loop
    await asyncio.gather(*(cluster.create_repository(body) for body in bodies))

    async def all_ready() -> bool:
        repos = [await cluster.repository(name) for name in names]
        return all((repo or {}).get("status", {}).get("conditions") for repo in repos)
    await eventually(all_ready, timeout=60, what="every Repository's first health status")

    # Requests only the operator's own client makes (kopf's own patch the objects themselves and
    # post Events too): Repository status writes and Secret reads.
    own = [r for r in proxy.records
           if r.info.full_resource == "repositories/status" or r.info.resource == "secrets"]
    assert len(own) >= 24
    assert not excess(own, QPS, BURST)

