"""One publisher per repository at a time, FIFO by creation; repositories run in parallel."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.e2e.harness import after_second_of, parse_stamp
from tests.e2e.scenario import ExclusionProbe, Scenario
from tests.support.cluster import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


async def test_transactions_of_one_repository_never_overlap_and_run_in_creation_order(
        scenario: Scenario) -> None:
    # Names sort against creation order: ties in creationTimestamp (one-second resolution) would
    # fall back to names, so each is created in a later second than the one before.
    names = ["c-first", "b-second", "a-third"]
    fqrn = await scenario.repository()
    async with ExclusionProbe(scenario) as probe:
        # Long enough to observe the queue (positions, Repository status) while it runs, under load.
        first = await scenario.run(names[0], fqrn, seconds=15)
        await scenario.wait_phase(names[0], "Running")
        previous = first
        for name, seconds in zip(names[1:], (6, 1), strict=True):  # the second long enough to see
            await after_second_of(previous["metadata"]["creationTimestamp"])
            previous = await scenario.run(name, fqrn, seconds=seconds)

        assert (await scenario.wait_phase(names[1], "Queued"))["queuePosition"] == 1
        queued = await scenario.wait_phase(names[2], "Queued")
        assert queued["queuePosition"] == 2

        def repository_shows(active_name: str, waiting: int | None) -> Any:
            async def check() -> dict[str, Any] | None:
                repo = await scenario.cluster.repository(fqrn)
                status = (repo or {}).get("status", {})
                active = status.get("activeTransaction") or {}
                length = status.get("queueLength") or 0
                shown = length >= 1 if waiting is None else length == waiting
                return status if active.get("name") == active_name and shown else None
            return check
        # The first to wait makes the queue and its holder visible (no write per joining one) ...
        await eventually(repository_shows(names[0], None), timeout=scenario.timeout,
                         what="Repository status naming the active Transaction, with a queue")
        # ... and the hand-over names the next holder and exactly how many wait behind it.
        await eventually(repository_shows(names[1], 1), timeout=scenario.timeout,
                         what="Repository status naming the second Transaction, one waiting")

        done = [await scenario.wait_phase(name, "Succeeded") for name in names]
    assert not probe.overlaps, f"two publisher pods of one repository at once: {probe.overlaps}"

    for before, after in itertools.pairwise(done):
        assert parse_stamp(after["startTime"]) >= parse_stamp(before["completionTime"])
        assert after["revisionBefore"] == before["revisionAfter"]
    if scenario.kubelet is not None:
        assert scenario.kubelet.order(scenario.namespace) == names
    await scenario.wait_clean(fqrn)


async def test_two_repositories_publish_in_parallel(scenario: Scenario) -> None:
    one = await scenario.repository("one", index=0)
    two = await scenario.repository("two", index=1)
    await scenario.run("one", one, seconds=5)
    await scenario.run("two", two, seconds=5)

    async def both_running() -> bool:
        first = await scenario.cluster.status(scenario.namespace, "one")
        second = await scenario.cluster.status(scenario.namespace, "two")
        return first.get("phase") == "Running" and second.get("phase") == "Running"
    await eventually(both_running, timeout=scenario.timeout, what="both Transactions Running at once")

    await scenario.wait_phase("one", "Succeeded")
    await scenario.wait_phase("two", "Succeeded")
    await scenario.wait_clean(one)
    await scenario.wait_clean(two)
