"""The operator stops and starts again while a publisher runs: it adopts the pod, never starts a
second one, and records the result (local operator only: a deployed one is not ours to stop)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.e2e.harness import LocalOperator
from tests.e2e.scenario import Scenario
from tests.support.cluster import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
async def test_operator_restart_mid_run_adopts_the_pod_and_completes(
        scenario: Scenario, e2e_operator: LocalOperator | None, kill: bool) -> None:
    if e2e_operator is None:
        pytest.skip("needs the local operator (--e2e-operator=local): a deployed one is not ours to stop")
    fqrn = await scenario.repository()
    created = await scenario.run("survivor", fqrn, seconds=20 if scenario.kubelet is not None else 40)
    running = await scenario.wait_phase("survivor", "Running")
    pod_name = running["podName"]

    await asyncio.to_thread(e2e_operator.stop, kill)
    try:
        assert (await scenario.cluster.status(scenario.namespace, "survivor"))["phase"] == "Running"

        async def pod_finished() -> dict[str, Any] | None:  # the pod goes on without the operator
            pods = await scenario.pods(created["metadata"]["uid"])
            done = [p for p in pods if (p.get("status") or {}).get("phase") in ("Succeeded", "Failed")]
            return done[0] if done else None
        finished = await eventually(pod_finished, timeout=scenario.timeout, what="the pod finished alone",
                                    interval=0.25)
        assert finished["metadata"]["name"] == pod_name
    finally:
        e2e_operator.start()

    status = await scenario.wait_phase("survivor", "Succeeded")
    assert status["attempts"] == 1
    assert status["podName"] == pod_name
    if scenario.kubelet is not None:
        assert scenario.kubelet.started(scenario.namespace, "survivor") == [pod_name]
    await scenario.wait_clean(fqrn, created["metadata"]["uid"])
