"""Deleting a Transaction: the finalizer stops its pod, releases the lock and the queue moves on."""

from __future__ import annotations

import pytest

from tests.e2e.scenario import ExclusionProbe, Scenario
from tests.support.cluster import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


async def test_deleted_while_queued_never_runs_and_the_queue_advances(scenario: Scenario) -> None:
    fqrn = await scenario.repository()
    await scenario.run("a-running", fqrn, hang=True)
    await scenario.wait_phase("a-running", "Running")
    queued = await scenario.run("b-queued", fqrn)
    assert (await scenario.wait_phase("b-queued", "Queued"))["queuePosition"] == 1
    await scenario.run("c-next", fqrn)
    assert (await scenario.wait_phase("c-next", "Queued"))["queuePosition"] == 2

    await scenario.api.delete_transaction(scenario.namespace, "b-queued")
    await scenario.wait_gone("b-queued")

    async def moved_up() -> bool:
        return (await scenario.cluster.status(scenario.namespace, "c-next")).get("queuePosition") == 1
    await eventually(moved_up, timeout=scenario.timeout, what="c-next at position 1")
    assert not await scenario.pods(queued["metadata"]["uid"])
    if scenario.kubelet is not None:
        assert scenario.kubelet.started(scenario.namespace, "b-queued") == []

    await scenario.api.delete_transaction(scenario.namespace, "a-running")  # let the queue move on
    await scenario.wait_gone("a-running")
    await scenario.wait_phase("c-next", "Succeeded")
    await scenario.wait_clean(fqrn)


async def test_deleted_while_running_stops_the_pod_and_releases_the_lock(scenario: Scenario) -> None:
    fqrn = await scenario.repository()
    async with ExclusionProbe(scenario) as probe:
        running = await scenario.run("a-running", fqrn, hang=True)
        await scenario.wait_phase("a-running", "Running")
        uid = running["metadata"]["uid"]
        assert await scenario.pods(uid)
        holder = await scenario.cluster.lock_holder(fqrn)
        assert holder is not None
        assert holder.endswith(uid)
        await scenario.run("b-next", fqrn)
        await scenario.wait_phase("b-next", "Queued")

        await scenario.api.delete_transaction(scenario.namespace, "a-running")
        await scenario.wait_gone("a-running")  # the finalizer ran: its pod is gone, the lock released
        assert not await scenario.pods(uid)
        holder = await scenario.cluster.lock_holder(fqrn)
        assert holder is None or not holder.endswith(uid)

        await scenario.wait_phase("b-next", "Succeeded")
    assert not probe.overlaps, f"two publisher pods of one repository at once: {probe.overlaps}"
    await scenario.wait_clean(fqrn)
