"""The operator end to end: kmock's Kubernetes emulator over HTTP, the real operator as a child
process, and the test playing the kubelet (SimulatedKubelet) through the same API."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import kmock
import pytest

from cvmfs_operator.api import contract
from cvmfs_operator.cli.emulator import ApiEmulator
from cvmfs_operator.clients.kube import KubeClient, make_api_client
from cvmfs_operator.clients.simkubelet import Fate, FateFn, SimulatedKubelet
from cvmfs_operator.stratum0 import simulated, simulated_operations
from tests.support.cluster import Cluster, OperatorProcess, load_example
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, S3Endpoint
from tests.unit.crds.schema_tools import schema_errors

OPERATOR_NAMESPACE = "cvmfs-system"
FQRN = "software.example.org"


@pytest.fixture
async def api() -> AsyncIterator[ApiEmulator]:
    async with ApiEmulator() as emulator, kmock.Server(emulator):
        yield emulator
        # The emulator has no admission: check every status the operator wrote against the CRD
        # schema here, as a real API server would have (it refuses a status that does not fit).
        problems = []
        for (resource, namespace, name), obj in list(emulator.objects.items()):
            kind = {"transactions": "Transaction", "repositories": "Repository",
                    "repositoryoperations": "RepositoryOperation"}.get(resource.plural or "")
            if kind is None or obj.deleted:
                continue
            errors = {e for e in schema_errors(kind, obj.raw) if e[0].startswith("status")}
            if errors:
                problems.append(f"{kind} {namespace}/{name}: {sorted(errors)}")
        assert not problems, f"statuses a real API server would refuse: {problems}"


@pytest.fixture
def kube(api: ApiEmulator) -> KubeClient:
    return KubeClient(make_api_client(str(api.url)))


@pytest.fixture
def cluster(kube: KubeClient) -> Cluster:
    return Cluster(kube, OPERATOR_NAMESPACE)


@pytest.fixture
def operator_env(api: ApiEmulator) -> dict[str, str]:
    return {
        "CVMFS_OPERATOR_API_SERVER": str(api.url),
        "CVMFS_OPERATOR_NAMESPACE": OPERATOR_NAMESPACE,
        "CVMFS_OPERATOR_RECONCILE_INTERVAL": "0.5",
        "CVMFS_OPERATOR_HEALTH_INTERVAL": "2",
        "CVMFS_OPERATOR_STALE_LOCK_SECONDS": "3",
        "CVMFS_OPERATOR_METRICS_PORT": "0",
        "CVMFS_OPERATOR_LIVENESS_PORT": "0",
    }


def any_traceback(log: str) -> str | None:
    """The operator's log may hold no traceback at all: what to report if it does."""
    return f"the operator crashed or logged a traceback:\n{log[-5000:]}" if "Traceback" in log else None


@contextlib.asynccontextmanager
async def operator_process(env: dict[str, str], log_path: Path,
                           tracebacks: Callable[[str], str | None] = any_traceback,
                           ) -> AsyncIterator[OperatorProcess]:
    """The real operator for one test; afterwards its log is shown and checked for tracebacks and
    for the S3 keys."""
    # The emulator serves from this event loop: never block it while the operator shuts down.
    process = OperatorProcess(env, log_path)
    process.start()
    try:
        yield process
    finally:
        await asyncio.to_thread(process.stop)
        log = process.log()
        print(f"--- operator log ---\n{log[-20000:]}")  # shown by pytest when the test fails
        problem = tracebacks(log)
        assert problem is None, problem
        assert SECRET_KEY not in log, "the operator logged the S3 secret key"
        assert ACCESS_KEY not in log, "the operator logged the S3 access key"


@pytest.fixture
async def operator(operator_env: dict[str, str], tmp_path: Path) -> AsyncIterator[OperatorProcess]:
    async with operator_process(operator_env, tmp_path / "operator.log") as process:
        yield process


class Kubelet:
    """The test's kubelet: each pod's fate is chosen per Transaction or RepositoryOperation name
    (default: success), either one Fate for every attempt or a list with one Fate per attempt."""

    def __init__(self, kube: KubeClient) -> None:
        self.fates: dict[str, Fate | list[Fate]] = {}
        # A successful pod really publishes (simulated objects written to the S3 endpoint).
        stores = simulated.s3_stores(ACCESS_KEY, SECRET_KEY)
        self.sim = SimulatedKubelet(kube, OPERATOR_NAMESPACE, self._fate, publish=simulated.publisher(stores),
                                    operate=simulated_operations.operator(stores))

    def _fate(self, pod: dict[str, Any]) -> Fate:
        labels = pod["metadata"]["labels"]
        name = labels.get("cvmfs.cern.ch/transaction-name") or labels.get("cvmfs.cern.ch/operation-name", "")
        fate = self.fates.get(name, Fate())
        if isinstance(fate, list):
            attempt = int(labels.get("cvmfs.cern.ch/attempt", "1"))
            return fate[min(attempt, len(fate)) - 1]
        return fate

    def started(self, transaction_name: str) -> list[str]:
        """Names of the publisher pods the kubelet ran for a Transaction, in order."""
        return [pod for _, pod in self.sim.activity.started if f"-{transaction_name}-" in pod]


@pytest.fixture
async def kubelet(kube: KubeClient) -> AsyncIterator[Kubelet]:
    k = Kubelet(kube)
    k.sim.start()
    try:
        yield k
    finally:
        await asyncio.to_thread(k.sim.stop)
    overlaps = k.sim.activity.overlaps
    assert not overlaps, f"two publisher pods of one repository at once: {overlaps}"


CREDENTIALS_SECRET = "s3-credentials"
RepoFactory = Callable[..., dict[str, Any]]


def stratum0_spec(s3: S3Endpoint, bucket: str, fqrn: str) -> dict[str, Any]:
    return {
        "url": s3.public_url(bucket, fqrn),
        "s3": {"endpoint": s3.url, "bucket": bucket, "region": "us-east-1", "addressing": "path",
               "credentialsSecretRef": {"name": CREDENTIALS_SECRET}},
    }


@pytest.fixture
async def repository(cluster: Cluster, s3: S3Endpoint, bucket: str) -> RepoFactory:
    """Build Repository bodies whose storage is a seeded repository in the moto S3 endpoint."""
    await cluster.create_secret(OPERATOR_NAMESPACE, CREDENTIALS_SECRET, {
        contract.S3_ACCESS_KEY_FILE: ACCESS_KEY, contract.S3_SECRET_KEY_FILE: SECRET_KEY})

    def make(name: str = FQRN, *, whitelist_days: float = 30.0, seed: bool = True,
             **spec: Any) -> dict[str, Any]:
        if seed:
            where = simulated.Bucket(s3.url, bucket, name, ACCESS_KEY, SECRET_KEY)
            simulated.seed_repository(where, name, datetime.datetime.now(datetime.UTC), whitelist_days)
        body = copy.deepcopy(load_example("repository.yaml")[0])
        body["metadata"]["name"] = name
        body["spec"]["stratum0"] = stratum0_spec(s3, bucket, name)
        body["spec"].update(spec)
        return body
    return make


def transaction(name: str, namespace: str = "default", repo: str = FQRN, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "cvmfs.cern.ch/v1alpha1",
        "kind": "Transaction",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"repository": repo, "path": "/releases",
                 "payload": {"remove": {"paths": ["old"]}}, **spec},
    }
    return body


__all__ = ["FQRN", "OPERATOR_NAMESPACE", "Fate", "FateFn", "Kubelet", "RepoFactory", "transaction"]
