"""The operator SIGKILLed at random moments and restarted each time (issue 11, "Faults").

A seeded schedule (tests/support/killer.py) kills the real operator process right after the API
server accepted one of its writes (a pod or a Lease created or deleted, a Transaction or
Repository status written, an Event posted), before the answer reaches it, or at a random time
after its start (some fall in kopf's start-up), and starts it again at once. Here 16 kills over
16 Transactions on 4 Repositories (a restart costs the operator's start-up, 2-3 s), half of them
created one after each of the first restarts so that the later kills still hit work; the issue's
size (200 kills, 200 Transactions, 10 Repositories) is ``python benchmarks/operator_load.py
sigkill``.

Safety (never two pods of one repository or of one attempt, no final phase written twice or left,
none final in the wrong phase, no revision beyond one per Transaction) is asserted on whatever
happened; liveness (all Succeeded, every tag in its repository, no pod or Lease left) last.
"""

from __future__ import annotations

import asyncio
import collections
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
from tests.support.killer import Killer, Moment, dump, schedule, written_phase
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, S3Endpoint

REPOSITORIES = tuple(f"k{i}.example.org" for i in range(4))
TRANSACTIONS = 16
KILLS = 16
LATER = 8  # Transactions created one after each of the first restarts: later kills find work in flight
SEED = 20261201
DEADLINE = 45.0  # seconds after the last kill for every Transaction to be final
PATIENCE = 5.0  # seconds to wait for a request moment before killing anyway (rare ones do not come)


@pytest.fixture
async def proxy(api: ApiEmulator) -> AsyncIterator[ApiProxy]:
    async with ApiProxy(str(api.url)) as running:
        yield running


async def test_every_transaction_succeeds_exactly_once_through_sigkills_and_restarts(
        cluster: Cluster, proxy: ApiProxy, operator_env: dict[str, str], kubelet: Kubelet,
        repository: RepoFactory, s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    began = time.monotonic()
    for fqrn in REPOSITORIES:
        await cluster.create_repository(repository(fqrn))
    plan = {("default", f"k{i:02d}"): REPOSITORIES[i % len(REPOSITORIES)] for i in range(TRANSACTIONS)}
    order = list(plan.items())
    for (namespace, name), fqrn in order[:TRANSACTIONS - LATER]:
        kubelet.fates[name] = Fate(seconds=0.2)
        await cluster.create_transaction(transaction(name, namespace, repo=fqrn))

    async def one_more(kills: int) -> None:
        if kills <= LATER:
            (namespace, name), fqrn = order[TRANSACTIONS - LATER + kills - 1]
            kubelet.fates[name] = Fate(seconds=0.2)
            await cluster.create_transaction(transaction(name, namespace, repo=fqrn))

    env = {**operator_env, "CVMFS_OPERATOR_API_SERVER": proxy.url}
    async with operator_process(env, tmp_path / "operator.log") as operator:
        killer = Killer(operator, proxy, schedule(KILLS, SEED), seed=SEED, patience=PATIENCE,
                        after_restart=one_more)
        await killer.run()
        killing = time.monotonic() - began
        left = await runs.unfinished(cluster, plan)
        final = await runs.until(lambda: runs.all_final(cluster, plan), DEADLINE)
        idle = final and await runs.until(lambda: runs.idle(cluster), 30)
    wall = time.monotonic() - began
    dump(proxy.records, tmp_path / "requests.jsonl")

    stores = {fqrn: simulated.Bucket(s3.url, bucket, fqrn, ACCESS_KEY, SECRET_KEY) for fqrn in REPOSITORIES}
    found = await asyncio.to_thread(
        invariants.check, records=proxy.records, kube=cluster.kube, operator_namespace=OPERATOR_NAMESPACE,
        transactions=plan, overlaps=len(kubelet.sim.activity.overlaps),
        started_pods=[pod for _, pod in kubelet.sim.activity.started], stores=stores)
    print(f"seed {SEED}: {killer.summary()}")
    print(f"kills done after {killing:.1f} s with {len(left)} of {TRANSACTIONS} Transactions unfinished; "
          f"all final: {final}, idle: {idle}; wall time {wall:.1f} s; "
          f"{len(proxy.records)} operator requests, {len(kubelet.sim.activity.started)} pods run")
    print(found.table())
    print(f"where the Transactions ended: {await _outcomes(cluster, plan)}")
    assert len(killer.kills) == KILLS
    assert not killer.exited, f"the operator exited by itself: {killer.exited}"
    safety = {what: n for what, n in found.violations().items() if what in runs.SAFETY}
    assert not safety, f"{safety}\n{found}"
    if not final or found.violations():
        raise runs.NotAllFinal(f"{found.violations()}: {found.not_final or found}")


async def test_a_kill_between_recording_a_publish_and_the_next_transaction_does_not_block_the_repository(
        cluster: Cluster, proxy: ApiProxy, operator_env: dict[str, str], kubelet: Kubelet,
        repository: RepoFactory, tmp_path: Path) -> None:
    """Killed right after the Succeeded status write of the first Transaction (the moment the
    random schedule above hit with seed 20261201): the next Transaction of the repository must
    still publish. The repository changed only through this operator's own pod. (It was held
    ReflogMismatch while the Transaction's status was written before the Repository's.)"""
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("first"))
    env = {**operator_env, "CVMFS_OPERATOR_API_SERVER": proxy.url}
    final_write = Moment("after the Succeeded status write", "patch", "transactions/status",
                         phase="Succeeded")
    async with operator_process(env, tmp_path / "operator.log") as operator:
        killer = Killer(operator, proxy, [final_write], patience=60.0, arm_after=(0.0, 0.0))
        await killer.run()
        await cluster.create_transaction(transaction("second"))
        published = await runs.until(lambda: _phase_is(cluster, "second", "Succeeded"), 30)
        second = await cluster.status("default", "second")
    dump(proxy.records, tmp_path / "requests.jsonl")
    print(f"{killer.summary()}; the second Transaction: {second.get('phase')} {second.get('reason')}: "
          f"{second.get('message')}")
    assert killer.kills[0].trigger.startswith("patch"), killer.kills
    assert (await cluster.status("default", "first")).get("phase") == "Succeeded"
    if not published:
        raise runs.NotAllFinal(f"the repository was blocked after the kill: {second}")
    assert kubelet.started("second"), "the second Transaction's pod never ran"


async def test_a_kill_after_the_lock_went_on_before_the_final_status_loses_nothing(
        cluster: Cluster, proxy: ApiProxy, operator_env: dict[str, str], kubelet: Kubelet,
        repository: RepoFactory, tmp_path: Path) -> None:
    """The lock goes to the next Transaction right after the Repository recorded a publish and
    before the publishing Transaction's own Succeeded write (one request less before the next
    pod). Killed right after that hand-over: the first is still recorded Succeeded, once, from its
    ended pod; the second publishes; the repository holds both, one revision each."""
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("first"))
    await cluster.create_transaction(transaction("second"))
    env = {**operator_env, "CVMFS_OPERATOR_API_SERVER": proxy.url}
    handed_over = Moment("after the lock's hand-over", "patch", "leases")
    async with operator_process(env, tmp_path / "operator.log") as operator:
        killer = Killer(operator, proxy, [handed_over], patience=60.0, arm_after=(0.0, 0.0))
        await killer.run()
        final = await runs.until(lambda: _phase_is(cluster, "second", "Succeeded"), 30)
    dump(proxy.records, tmp_path / "requests.jsonl")
    print(killer.summary())
    assert killer.kills[0].trigger.startswith("patch"), killer.kills
    writes = [(r.info.full_resource, r.info.name, written_phase(r)) for r in proxy.records
              if r.info.verb == "patch" and 200 <= r.status < 300]
    first_final = [i for i, w in enumerate(writes) if w == ("transactions/status", "first", "Succeeded")]
    lease = next(i for i, w in enumerate(writes) if w[0] == "leases")
    assert len(first_final) == 1, f"the first's Succeeded written {len(first_final)} times: {writes}"
    assert lease < first_final[0], "the lock went on after the final status write, not before"
    assert final, await cluster.status("default", "second")
    first, second = await cluster.status("default", "first"), await cluster.status("default", "second")
    assert first.get("phase") == "Succeeded", first
    assert second.get("revisionAfter") == first.get("revisionAfter", 0) + 1, (first, second)
    assert len(kubelet.started("first")) == len(kubelet.started("second")) == 1


async def _outcomes(cluster: Cluster, plan: dict[tuple[str, str], str]) -> dict[str, int]:
    statuses = await asyncio.gather(*(cluster.status(ns, name) for ns, name in plan))
    counts = collections.Counter(f"{s.get('phase')}/{s.get('reason')}" for s in statuses)
    return dict(counts.most_common())


async def _phase_is(cluster: Cluster, name: str, phase: str) -> bool:
    return (await cluster.status("default", name)).get("phase") == phase
