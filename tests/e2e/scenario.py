"""One test's world: its release namespace(s), its Repositories and Transactions, and their cleanup.

A scenario speaks in durations, not in payloads: ``run(name, seconds=3)`` makes a Transaction whose
publisher works for about that long, whoever plays the node. With ``--simulate-kubelet`` the test's
kubelet is told the pod's fate; with a real kubelet the publisher runs a script payload that sleeps
and writes one file into the (disposable) repository from ``--e2e-repository-file``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from cvmfs_operator.api.types import GROUP, TRANSACTION_PLURAL, VERSION
from cvmfs_operator.clients.simkubelet import Fate
from tests.e2e.harness import Api, E2eConfig, Janitor, Kubelet, S3Store
from tests.support.cluster import Cluster, eventually, load_example

HANG_SECONDS = 3600  # "never ends" for a real publisher: longer than any test waits


@dataclass(frozen=True)
class RealRepositories:
    """The Repositories (and their Secrets) of ``--e2e-repository-file``, as written there."""

    repositories: list[dict[str, Any]]
    secrets: list[dict[str, Any]]

    @staticmethod
    def load(path: Path) -> RealRepositories:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        repos = [d for d in docs if d.get("kind") == "Repository"]
        secrets = [d for d in docs if d.get("kind") == "Secret"]
        if not repos:
            raise ValueError(f"{path} holds no Repository")
        return RealRepositories(repos, secrets)


@dataclass
class Session:
    """What every scenario of the session shares."""

    api: Api
    cluster: Cluster
    config: E2eConfig
    janitor: Janitor
    kubelet: Kubelet | None
    real_repositories: RealRepositories | None
    s3: S3Store | None  # with the simulated kubelet: where Repositories live
    prefix: str  # cvmfs-e2e-<random>
    release_namespaces: set[str]  # the simulated kubelet only runs pods of these
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def operator_namespace(self) -> str:
        return self.cluster.operator_namespace


class Scenario:
    def __init__(self, session: Session) -> None:
        self.s = session
        self.api = session.api
        self.cluster = session.cluster
        self.config = session.config
        self.kubelet = session.kubelet
        self.id = f"{session.prefix}-r{next(session.counter)}"
        self.namespace = self.id
        self.namespaces: list[str] = []
        self.repositories: list[str] = []
        self.bucket: str | None = None

    @property
    def timeout(self) -> float:
        return self.config.timeout

    # The world

    async def create_namespace(self, suffix: str = "") -> str:
        name = f"{self.id}{suffix}"
        self.s.release_namespaces.add(name)
        self.namespaces.append(name)
        await self.api.create_namespace(name, {"app.kubernetes.io/part-of": "cvmfs-e2e"})
        return name

    def fqrn(self, label: str = "software") -> str:
        """A Repository name unique to this scenario."""
        return f"{label}.{self.id}.example.org"

    def real_repository_count(self) -> int:
        return len(self.s.real_repositories.repositories) if self.s.real_repositories else 0

    def example_repository(self, label: str = "software") -> dict[str, Any]:
        """examples/repository.yaml renamed into this scenario (its S3 and Secrets do not exist)."""
        body = copy.deepcopy(load_example("repository.yaml")[0])
        name = self.fqrn(label)
        body["metadata"] = {"name": name}
        body["spec"]["stratum0"]["url"] = f"http://s3.example.org/cvmfs/{name}"
        body["spec"]["allowedNamespaces"] = [self.namespace]
        return body

    async def simulated_stratum0(self, fqrn: str) -> dict[str, Any]:
        """spec.stratum0 of a freshly seeded repository in this scenario's bucket."""
        s3 = self.s.s3
        if s3 is None:
            pytest.skip("the simulated kubelet publishes into S3, which the operator reads: a deployed "
                        "operator needs --e2e-s3-endpoint reachable from the cluster (docs/e2e.md)")
        if self.bucket is None:
            self.bucket = self.id
            await asyncio.to_thread(s3.create_bucket, self.bucket)
        await asyncio.to_thread(s3.seed, self.bucket, fqrn)
        return s3.stratum0(self.bucket, fqrn)

    async def repository_body(self, label: str = "software", index: int = 0, **spec: Any) -> dict[str, Any]:
        """A Repository whose allowedNamespaces name this scenario's namespace and which allows
        script payloads: examples/repository.yaml on a seeded simulated S3 repository with the
        simulated kubelet, else the real one from the repository file."""
        if self.config.simulate_kubelet:
            body = self.example_repository(label)
            body["spec"]["stratum0"] = await self.simulated_stratum0(body["metadata"]["name"])
        else:
            real = self.s.real_repositories
            if real is None:
                pytest.skip("a real kubelet runs the real publisher, which needs a real S3 repository: "
                            "pass --e2e-repository-file (docs/e2e.md), or use --simulate-kubelet")
            if index >= len(real.repositories):
                pytest.skip(f"needs {index + 1} Repositories in --e2e-repository-file")
            body = copy.deepcopy(real.repositories[index])
            body["metadata"] = {"name": body["metadata"]["name"]}
        body["spec"]["allowedNamespaces"] = [self.namespace]
        body["spec"].setdefault("publisher", {})["allowScripts"] = True
        body["spec"].update(spec)
        return body

    async def create_repository(self, body: dict[str, Any]) -> str:
        name = str(body["metadata"]["name"])
        self.repositories.append(name)
        await self.cluster.create_repository(body)
        return name

    async def repository(self, label: str = "software", index: int = 0, **spec: Any) -> str:
        return await self.create_repository(await self.repository_body(label, index, **spec))

    def transaction_body(self, name: str, repo: str, *, seconds: float = 0.5, hang: bool = False,
                         namespace: str | None = None, **spec: Any) -> dict[str, Any]:
        namespace = namespace or self.namespace
        sleep = HANG_SECONDS if hang else max(1, round(seconds))
        script = f"sleep {sleep}\nmkdir -p e2e\ndate -u > e2e/{namespace}-{name}\n"
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Transaction",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"repository": repo, "path": "/", "payload": {"script": {"source": script}}, **spec},
        }

    async def run(self, name: str, repo: str, *, seconds: float = 0.5, hang: bool = False,
                  fate: Fate | None = None, namespace: str | None = None, **spec: Any) -> dict[str, Any]:
        """Create a Transaction whose publisher works ``seconds`` (or never ends)."""
        namespace = namespace or self.namespace
        if fate is not None:
            self.require_simulated_kubelet("a chosen publisher outcome")
        if self.kubelet is not None:
            self.kubelet.decide(namespace, name, fate or Fate(seconds=seconds, hang=hang))
        body = self.transaction_body(name, repo, seconds=seconds, hang=hang, namespace=namespace, **spec)
        return await self.cluster.create_transaction(body)

    def require_simulated_kubelet(self, why: str) -> Kubelet:
        if self.kubelet is None:
            pytest.skip(f"{why} needs --simulate-kubelet (a real publisher cannot be told how to end)")
        return self.kubelet

    # Waiting

    async def wait_phase(self, name: str, phase: str, namespace: str | None = None) -> dict[str, Any]:
        return await self.cluster.wait_phase(namespace or self.namespace, name, phase, timeout=self.timeout)

    async def wait_gone(self, name: str, namespace: str | None = None) -> None:
        await self.cluster.wait_gone(namespace or self.namespace, name, timeout=self.timeout)

    async def wait_clean(self, fqrn: str, uid: str | None = None) -> None:
        """No publisher pod left (of this Transaction, or of this scenario) and the lock released."""
        async def clean() -> bool:
            pods = await self.pods(uid)
            return not pods and await self.cluster.lock_holder(fqrn) is None
        await eventually(clean, timeout=self.timeout, what=f"pods deleted and lock of {fqrn} released",
                         interval=0.25)

    async def pods(self, uid: str | None = None) -> list[dict[str, Any]]:
        """Publisher pods of this scenario's Transactions (the operator namespace may be shared)."""
        label = f"{GROUP}/transaction-namespace"
        return [p for p in await self.cluster.publisher_pods(uid)
                if (p["metadata"].get("labels") or {}).get(label) in self.namespaces]

    # Cleanup

    async def cleanup(self) -> None:
        """Delete what the test made, in the order a real API server needs: Transactions first (the
        operator's finalizer stops their pods and releases the locks), then Repositories, then the
        namespaces. A Transaction that will not go is left to the Janitor, after the operator stops."""
        stuck: list[str] = []
        for namespace in self.namespaces:
            transactions = await self.api.transactions(namespace)
            for txn in transactions:
                await self.api.delete_transaction(namespace, txn["metadata"]["name"])
            for txn in transactions:
                name, uid = txn["metadata"]["name"], txn["metadata"]["uid"]
                if not await self._gone(namespace, name, uid):
                    stuck.append(f"{namespace}/{name}")
        for name in self.repositories:
            await self.api.delete_repository(name, self.config.cleanup_timeout)
        for namespace in self.namespaces:
            if any(s.startswith(f"{namespace}/") for s in stuck):
                self.s.janitor.leftovers.append(namespace)
            else:
                await self.api.delete_namespace(namespace, self.config.cleanup_timeout)
            self.s.release_namespaces.discard(namespace)
        assert not stuck, f"the operator did not finalize these Transactions: {stuck}"


    async def _gone(self, namespace: str, name: str, uid: str) -> bool:
        async def gone() -> bool:
            return await self.api.transaction_gone(namespace, name, uid)
        try:
            await eventually(gone, timeout=self.config.cleanup_timeout, what=f"{namespace}/{name} deleted",
                             interval=0.25)
        except AssertionError:
            return False
        return True


def unique(prefix: str = "cvmfs-e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def transaction_path(namespace: str) -> tuple[str, str, str, str]:
    return GROUP, VERSION, namespace, TRANSACTION_PLURAL


class ExclusionProbe:
    """Polls the scenario's publisher pods while a test runs and records every moment two pods of
    one repository were alive at once (pending, running or still terminating), from the API's view
    rather than the kubelet's, so it also holds with a real kubelet."""

    def __init__(self, scenario: Scenario, interval: float = 0.2) -> None:
        self.scenario = scenario
        self.interval = interval
        self.overlaps: list[str] = []
        self.polls = 0
        self._task: asyncio.Task[None] | None = None

    async def _poll(self) -> None:
        while True:
            active: dict[str, list[str]] = {}
            for pod in await self.scenario.pods():
                if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    continue
                repo = (pod["metadata"].get("labels") or {}).get(f"{GROUP}/repository", "")
                active.setdefault(repo, []).append(pod["metadata"]["name"])
            self.overlaps.extend(f"{repo}: {sorted(p)}" for repo, p in active.items() if len(p) > 1)
            self.polls += 1
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> ExclusionProbe:
        self._task = asyncio.create_task(self._poll())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        assert self.polls > 0, "the probe never looked at the pods"
