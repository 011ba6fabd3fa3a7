"""The simulated kubelet against the emulator: what a node does to the pods it is given.

Every operator test and benchmark relies on it to play the node, so it must behave like one: a
pod runs from the moment it is seen, pods do not wait for each other, a deleted pod is stopped and
let go, ``activeDeadlineSeconds`` is enforced, and two active pods of one repository are reported.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import kmock
import pytest

from cvmfs_operator.cli.emulator import ApiEmulator
from cvmfs_operator.clients.kube import KubeClient, make_api_client
from cvmfs_operator.clients.simkubelet import FINALIZER, Fate, SimulatedKubelet
from cvmfs_operator.render import names

NAMESPACE = "kubelet-test"


@pytest.fixture
async def kube() -> AsyncIterator[KubeClient]:
    async with ApiEmulator() as emulator, kmock.Server(emulator):
        yield KubeClient(make_api_client(str(emulator.url)))


def pod(name: str, repository: str = "r.example.org", deadline: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "publisher", "image": "publisher:test"}],
                            "restartPolicy": "Never"}
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {
                names.LABEL_COMPONENT: names.COMPONENT_PUBLISHER, names.LABEL_REPOSITORY: repository,
                names.LABEL_TRANSACTION_NAME: name}},
            "spec": spec}


async def until(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)


def phase_of(kube: KubeClient, name: str) -> str | None:
    found = kube.list_pods(NAMESPACE, {names.LABEL_TRANSACTION_NAME: name})
    return (found[0].get("status") or {}).get("phase") if found else None


def terminated(kube: KubeClient, name: str) -> dict[str, Any]:
    found = kube.list_pods(NAMESPACE, {names.LABEL_TRANSACTION_NAME: name})
    statuses = (found[0].get("status") or {}).get("containerStatuses") or [{}] if found else [{}]
    return dict(statuses[0].get("state", {}).get("terminated") or {})


@pytest.fixture
async def kubelet(kube: KubeClient, request: pytest.FixtureRequest) -> AsyncIterator[SimulatedKubelet]:
    fates: dict[str, Fate] = getattr(request, "param", {})
    default = Fate(0.2, message="ok")
    sim = SimulatedKubelet(kube, NAMESPACE, lambda p: fates.get(p["metadata"]["name"], default))
    sim.start()
    yield sim
    await asyncio.to_thread(sim.stop)


async def test_a_pod_runs_its_fate_and_ends_with_its_message(kube: KubeClient,
                                                             kubelet: SimulatedKubelet) -> None:
    await asyncio.to_thread(kube.create_pod, pod("p1"))
    await until("p1 Running", lambda: phase_of(kube, "p1") in ("Running", "Succeeded"))
    found = await asyncio.to_thread(kube.list_pods, NAMESPACE, {names.LABEL_TRANSACTION_NAME: "p1"})
    assert FINALIZER in found[0]["metadata"]["finalizers"], "a running pod is held by the node"
    await until("p1 Succeeded", lambda: phase_of(kube, "p1") == "Succeeded")
    assert await asyncio.to_thread(terminated, kube, "p1") | {"startedAt": "", "finishedAt": ""} == {
        "exitCode": 0, "reason": "Completed", "message": "ok", "startedAt": "", "finishedAt": ""}
    assert kubelet.activity.started == [("r.example.org", "p1")]
    assert kubelet.activity.overlaps == []


@pytest.mark.parametrize("kubelet", [{"hung": Fate(hang=True)}], indirect=True)
async def test_pods_do_not_wait_for_each_other(kube: KubeClient, kubelet: SimulatedKubelet) -> None:
    """A pod that never ends holds no other back: ten more, on other repositories, all end."""
    await asyncio.to_thread(kube.create_pod, pod("hung", repository="a.example.org"))
    await until("hung Running", lambda: phase_of(kube, "hung") == "Running")
    for i in range(10):
        await asyncio.to_thread(kube.create_pod, pod(f"q{i}", repository=f"b{i}.example.org"))
    for i in range(10):
        await until(f"q{i} Succeeded", lambda i=i: phase_of(kube, f"q{i}") == "Succeeded")  # type: ignore[misc]
    assert await asyncio.to_thread(phase_of, kube, "hung") == "Running"


@pytest.mark.parametrize("kubelet", [{"long": Fate(seconds=600)}], indirect=True)
async def test_a_deleted_pod_is_stopped_and_let_go(kube: KubeClient, kubelet: SimulatedKubelet) -> None:
    await asyncio.to_thread(kube.create_pod, pod("long"))
    await until("long Running", lambda: phase_of(kube, "long") == "Running")
    await asyncio.to_thread(kube.delete_pod, NAMESPACE, "long")
    await until("long gone", lambda: phase_of(kube, "long") is None)
    assert kubelet.activity.overlaps == []


async def test_an_ended_pod_deleted_later_is_let_go(kube: KubeClient, kubelet: SimulatedKubelet) -> None:
    await asyncio.to_thread(kube.create_pod, pod("p2"))
    await until("p2 Succeeded", lambda: phase_of(kube, "p2") == "Succeeded")
    await asyncio.to_thread(kube.delete_pod, NAMESPACE, "p2")
    await until("p2 gone", lambda: phase_of(kube, "p2") is None)


@pytest.mark.parametrize("kubelet", [{"slow": Fate(seconds=600)}], indirect=True)
async def test_active_deadline_is_enforced(kube: KubeClient, kubelet: SimulatedKubelet) -> None:
    await asyncio.to_thread(kube.create_pod, pod("slow", deadline=1))
    await until("slow Failed", lambda: phase_of(kube, "slow") == "Failed")
    found = await asyncio.to_thread(kube.list_pods, NAMESPACE, {names.LABEL_TRANSACTION_NAME: "slow"})
    assert found[0]["status"]["reason"] == "DeadlineExceeded"
    assert (await asyncio.to_thread(terminated, kube, "slow"))["exitCode"] == 143


@pytest.mark.parametrize("kubelet", [{"a": Fate(seconds=600), "b": Fate(seconds=600)}], indirect=True)
async def test_two_active_pods_of_one_repository_are_reported(kube: KubeClient,
                                                               kubelet: SimulatedKubelet) -> None:
    await asyncio.to_thread(kube.create_pod, pod("a"))
    await until("a Running", lambda: phase_of(kube, "a") == "Running")
    assert kubelet.activity.overlaps == []
    await asyncio.to_thread(kube.create_pod, pod("b"))
    await until("the overlap reported", lambda: kubelet.activity.overlaps)
    assert kubelet.activity.overlaps[0] == "r.example.org: ['a', 'b']"


async def test_one_after_the_other_is_no_overlap(kube: KubeClient, kubelet: SimulatedKubelet) -> None:
    for name in ("s1", "s2", "s3"):
        await asyncio.to_thread(kube.create_pod, pod(name))
        await until(f"{name} Succeeded", lambda name=name: phase_of(kube, name) == "Succeeded")  # type: ignore[misc]
    assert [p for _, p in kubelet.activity.started] == ["s1", "s2", "s3"]
    assert kubelet.activity.overlaps == []
