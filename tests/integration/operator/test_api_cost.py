"""What a Transaction costs the API server, counted at the HTTP boundary (issue 11's budget).

The operator talks to the emulator only through the recording proxy; the requests it makes
while Transactions run are counted by verb and resource. Budget per Transaction: at most 4
GET/LIST (reads come from watches), at most 8 writes (finalizer, Lease create and release, pod
create and delete, two Transaction status writes, one Repository record) and at most 2 Events;
a queue costs at most 2 more status writes per queued Transaction, never one per hand-over.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import AsyncIterator, Sequence

import pytest

from cvmfs_operator.cli.emulator import ApiEmulator
from tests.integration.operator.conftest import FQRN, Fate, Kubelet, RepoFactory, transaction
from tests.support.apiproxy import ApiProxy, Record
from tests.support.cluster import Cluster, OperatorProcess, eventually

READS = frozenset({"get", "list"})
WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@pytest.fixture
async def proxy(api: ApiEmulator) -> AsyncIterator[ApiProxy]:
    async with ApiProxy(str(api.url)) as running:
        yield running


@pytest.fixture
def operator_env(operator_env: dict[str, str], proxy: ApiProxy) -> dict[str, str]:
    # Health reads on their own schedule write the Repository only on change; kept out of the way.
    return {**operator_env, "CVMFS_OPERATOR_API_SERVER": proxy.url,
            "CVMFS_OPERATOR_HEALTH_INTERVAL": "600"}


def _cost(records: Sequence[Record]) -> collections.Counter[str]:
    cost: collections.Counter[str] = collections.Counter()
    for record in records:
        info = record.info
        if not info.is_resource or info.watch:
            continue
        if info.verb in READS:
            cost["reads"] += 1
        elif info.resource == "events":
            cost["events"] += 1
            cost[f"event {json.loads(record.body).get('reason')}"] += 1
        elif info.verb in WRITES:
            cost["writes"] += 1
            cost[f"{info.verb} {info.full_resource}"] += 1
    return cost


async def _warmed_up(cluster: Cluster, proxy: ApiProxy, repository: RepoFactory) -> float:
    """The Repository created and published to once (the first publish also records the reflog's
    checksum: one Repository write more, once), read by the health loop, and the operator quiet:
    the moment counting starts."""
    await cluster.create_repository(repository())
    await cluster.create_transaction(transaction("warm-up"))
    await cluster.wait_phase("default", "warm-up", "Succeeded")

    async def settled() -> bool:
        repo = await cluster.repository(FQRN) or {}
        ready = any(c.get("type") == "Ready" for c in (repo.get("status") or {}).get("conditions", []))
        return ready and not [r for r in proxy.since(time.time() - 1.0) if not r.info.watch]
    await eventually(settled, timeout=60, what="the Repository read and the operator quiet")
    return time.time()


async def _idle(cluster: Cluster) -> None:
    """Pod deleted, lock released: the Transaction's last writes are done."""
    async def idle() -> bool:
        return await cluster.idle(FQRN)
    await eventually(idle, timeout=30, what="no publisher pod and the lock released")


async def test_a_transaction_on_an_idle_repository_stays_within_the_budget(
        cluster: Cluster, proxy: ApiProxy, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    start = await _warmed_up(cluster, proxy, repository)
    names = [f"one-{i}" for i in range(3)]
    for name in names:
        await cluster.create_transaction(transaction(name))
        await cluster.wait_phase("default", name, "Succeeded")
        await _idle(cluster)
    cost = _cost(proxy.since(start))
    n = len(names)
    assert cost["reads"] <= 4 * n, cost
    assert cost["writes"] <= 8 * n, cost
    assert cost["events"] <= 2 * n, cost
    # What the budget is made of: one Repository write (the result), none at the pod's start.
    assert cost["patch repositories/status"] == n, cost
    assert cost["patch transactions/status"] == 2 * n, cost


async def test_a_queue_costs_a_bounded_number_of_writes_per_transaction(
        cluster: Cluster, proxy: ApiProxy, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    start = await _warmed_up(cluster, proxy, repository)
    kubelet.fates["q-head"] = Fate(seconds=3.0)
    await cluster.create_transaction(transaction("q-head"))
    await cluster.wait_phase("default", "q-head", "Running")
    names = [f"q-{i}" for i in range(6)]
    for name in names:
        await cluster.create_transaction(transaction(name))
    for name in ["q-head", *names]:
        await cluster.wait_phase("default", name, "Succeeded")
    await _idle(cluster)
    cost = _cost(proxy.since(start))
    n = len(names) + 1
    assert cost["reads"] <= 4 * n, cost
    assert cost["events"] <= 2 * n, cost
    assert not cost["event LockBroken"], cost  # a holder releasing is not a dead one
    # Queued on joining and once more when next: at most 2 more than a lone Transaction's 2,
    # however long the queue (one per hand-over per waiting one would be 6 + 5 + ... here).
    assert cost["patch transactions/status"] <= 2 * n + 2 * len(names), cost
    # The lock is handed over (one patch) rather than deleted and created again.
    assert cost["patch leases"] == len(names), cost
    assert cost["writes"] <= 10 * n, cost
    # Each hand-over comes before the predecessor's result Event: that Event is not on the path
    # from a pod's end to the next pod.
    assert _events_after_hand_overs(proxy.since(start), ["q-head", *names[:-1]]), "an Event came first"


def _events_after_hand_overs(records: Sequence[Record], holders: Sequence[str]) -> bool:
    ordered = sorted(records, key=lambda r: r.started)
    hand_overs = [i for i, r in enumerate(ordered) if r.info.verb == "patch" and r.info.resource == "leases"]
    published: dict[str, int] = {}
    for i, r in enumerate(ordered):
        if r.info.resource == "events" and r.info.verb == "create":
            event = json.loads(r.body)
            if event.get("reason") == "Published":
                published[event["involvedObject"]["name"]] = i
    assert len(hand_overs) == len(holders), hand_overs
    assert set(holders) <= published.keys(), published
    return all(handed < published[holder] for handed, holder in zip(hand_overs, holders, strict=True))
