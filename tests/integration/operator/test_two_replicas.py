"""Two operator replicas at once, as a Deployment with ``replicas: 2`` runs them (issue 11, "Faults").

The design claims that no leader election is needed: the per-repository Lease (created atomically,
its name derived from the repository) admits one publisher per repository whichever process asks,
and a pod's name is derived from its Transaction and attempt, so a second create of the same
attempt is refused (409). Both processes act on every Transaction; the claim is that the
duplicate work is harmless. Each replica talks to the API server through its own recording
proxy, so every request is attributed. Once half the Transactions are final, replica B is
SIGKILLed (right after one of its Transaction status writes was accepted, before it learns so) and
not restarted: A must finish everything.

Asserted: the safety invariants of the other fault suites, except that a final phase may be
written twice when both replicas record the same result (duplicate work, counted and printed);
two different final statuses for one Transaction are a violation. Events are counted: none may be
posted more than once per replica. The larger run: ``python benchmarks/operator_load.py replicas``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cvmfs_operator.cli.emulator import ApiEmulator
from cvmfs_operator.stratum0 import simulated
from tests.integration.operator.conftest import (
    OPERATOR_NAMESPACE,
    Fate,
    Kubelet,
    RepoFactory,
    operator_process,
    transaction,
)
from tests.support import invariants, runs
from tests.support.apiproxy import ApiProxy
from tests.support.cluster import Cluster
from tests.support.killer import Killer, Moment
from tests.support.replicas import replica_report
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, S3Endpoint

REPOSITORIES = tuple(f"r{i}.example.org" for i in range(4))
TRANSACTIONS = 12
KILL_B = Moment("after a Transaction status write", "patch", "transactions/status")
DEADLINE = 60.0


@pytest.fixture
async def proxies(api: ApiEmulator) -> AsyncIterator[tuple[ApiProxy, ApiProxy]]:
    async with ApiProxy(str(api.url)) as a, ApiProxy(str(api.url)) as b:
        yield a, b


async def test_two_replicas_publish_every_transaction_once_and_one_survives_the_other(
        cluster: Cluster, proxies: tuple[ApiProxy, ApiProxy], operator_env: dict[str, str],
        kubelet: Kubelet, repository: RepoFactory, s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    proxy_a, proxy_b = proxies
    began = time.monotonic()
    for fqrn in REPOSITORIES:
        await cluster.create_repository(repository(fqrn))
    plan = {("default", f"t{i:02d}"): REPOSITORIES[i % len(REPOSITORIES)] for i in range(TRANSACTIONS)}
    for name in (name for _, name in plan):
        kubelet.fates[name] = Fate(seconds=0.2)

    async with contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(operator_process(
            {**operator_env, "CVMFS_OPERATOR_API_SERVER": proxy_a.url}, tmp_path / "operator-a.log"))
        b = await stack.enter_async_context(operator_process(
            {**operator_env, "CVMFS_OPERATOR_API_SERVER": proxy_b.url}, tmp_path / "operator-b.log"))
        assert await runs.watching(proxy_a.records), "replica A did not start"
        assert await runs.watching(proxy_b.records), "replica B did not start"
        for (namespace, name), fqrn in plan.items():
            await cluster.create_transaction(transaction(name, namespace, repo=fqrn))
        await runs.until(lambda: _half_final(cluster, plan), DEADLINE)
        killer = Killer(b, proxy_b, [KILL_B], restart=False, patience=30.0, arm_after=(0.0, 0.0))
        await killer.run()
        left = await runs.unfinished(cluster, plan)
        final = await runs.until(lambda: runs.all_final(cluster, plan), DEADLINE)
        idle = final and await runs.until(lambda: runs.idle(cluster), 30)
        assert a.process is not None
        assert a.process.poll() is None, "replica A died"
    wall = time.monotonic() - began

    records = sorted([*proxy_a.records, *proxy_b.records], key=lambda r: r.started)
    stores = {fqrn: simulated.Bucket(s3.url, bucket, fqrn, ACCESS_KEY, SECRET_KEY) for fqrn in REPOSITORIES}
    found = await asyncio.to_thread(
        invariants.check, records=records, kube=cluster.kube, operator_namespace=OPERATOR_NAMESPACE,
        transactions=plan, overlaps=len(kubelet.sim.activity.overlaps),
        started_pods=[pod for _, pod in kubelet.sim.activity.started], stores=stores)
    report = replica_report({"A": proxy_a.records, "B": proxy_b.records}, len(plan))
    print(f"B killed: {killer.summary()}; {len(left)} of {TRANSACTIONS} Transactions unfinished then; "
          f"all final: {final}, idle: {idle}; wall time {wall:.1f} s")
    print(report.table())
    print(found.table())
    assert killer.kills, "replica B was not killed"
    assert not killer.exited, f"replica B exited before its kill: {killer.exited}"
    assert not report.conflicting_finals, f"two different final statuses: {report.conflicting_finals}"
    assert report.most_repeated_event <= 2, f"an Event posted more than once per replica: {report}"
    tolerated = {"final phase written more than once"}  # by both replicas, with the same content
    safety = {what: n for what, n in found.violations().items() if what in runs.SAFETY - tolerated}
    assert not safety, f"{safety}\n{found}"
    if not final or {k: v for k, v in found.violations().items() if k not in tolerated}:
        raise runs.NotAllFinal(f"{found.violations()}: {found.not_final or found}")


async def _half_final(cluster: Cluster, plan: dict[tuple[str, str], str]) -> bool:
    return len(await runs.unfinished(cluster, plan)) <= len(plan) // 2
