"""Seeing a Repository costs no write of the operator's own: only its status is written (what the
health read found). kopf writes a last-handled-configuration annotation on every object of a kind
that has a change handler (create/update/delete); on a site with thousands of Repositories that was
a PATCH per Repository whenever the operator first saw them, thousands at once after an upgrade, and
the largest part of its peak memory on a real API server (open TLS connections). A deleted
Repository's gauges still go away (the event handler forgets them)."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cvmfs_operator.cli.emulator import ApiEmulator
from tests.integration.operator.conftest import RepoFactory, operator_process
from tests.support.apiproxy import ApiProxy
from tests.support.cluster import Cluster, eventually, free_port

NAMES = ("w1.example.org", "w2.example.org", "w3.example.org")
KOPF_ANNOTATIONS = ("last-handled-configuration", "kopf-managed")


@pytest.fixture
async def proxy(api: ApiEmulator) -> AsyncIterator[ApiProxy]:
    async with ApiProxy(str(api.url)) as running:
        yield running


def _gauged(port: int) -> set[str]:
    """Repositories named by the Ready gauge in a scrape."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return set()
    lines = [line for line in text.splitlines() if line.startswith("cvmfs_operator_repository_ready{")]
    return {name for name in NAMES if any(f'repository="{name}"' in line for line in lines)}


async def test_a_repository_is_watched_without_a_write_of_its_own_and_forgotten_when_deleted(
        cluster: Cluster, proxy: ApiProxy, operator_env: dict[str, str], repository: RepoFactory,
        tmp_path: Path) -> None:
    port = free_port()
    env = {**operator_env, "CVMFS_OPERATOR_API_SERVER": proxy.url, "CVMFS_OPERATOR_METRICS_PORT": str(port)}
    for name in NAMES:
        await cluster.create_repository(repository(name))
    async with operator_process(env, tmp_path / "operator.log"):
        async def all_read() -> bool:
            repos = [await cluster.repository(name) or {} for name in NAMES]
            return all((repo.get("status") or {}).get("conditions") for repo in repos)
        await eventually(all_read, timeout=60, what="every Repository's first status")
        await eventually(lambda: asyncio.to_thread(lambda: _gauged(port) == set(NAMES)), timeout=30,
                         what="a Ready gauge for every Repository")

        writes = [(r.info.verb, r.info.full_resource) for r in proxy.records
                  if r.info.is_resource and r.info.resource == "repositories"
                  and r.info.verb in ("patch", "update")]
        assert writes, "no status was written: the test proves nothing"
        assert {resource for _, resource in writes} == {"repositories/status"}, writes
        for name in NAMES:
            meta = (await cluster.repository(name) or {}).get("metadata") or {}
            annotations = meta.get("annotations") or {}
            assert not [key for key in annotations if key.endswith(KOPF_ANNOTATIONS)], annotations

        await cluster.delete_repository(NAMES[0])
        await eventually(lambda: asyncio.to_thread(lambda: _gauged(port) == set(NAMES[1:])), timeout=30,
                         what="the deleted Repository's gauges gone, the others kept")
