"""The e2e tier's plumbing: what the session runs against, and how it talks to that API server.

Every call to the (synchronous) Kubernetes client goes through ``asyncio.to_thread``: with
``--e2e-against-emulator`` the API server is served from the test session's own event loop, and on
a real cluster it keeps the loop free for the operator's log and the kubelet's thread anyway.

Nothing here assumes the emulator's shortcuts: deletions are awaited until the object is really
gone, label selectors are sent and the answers filtered again, finalizers are honoured.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import kubernetes
import yaml
from kubernetes.client.exceptions import ApiException

from cvmfs_operator.api import contract
from cvmfs_operator.api.types import GROUP, REPOSITORY_PLURAL, TRANSACTION_PLURAL, VERSION
from cvmfs_operator.clients import simkubelet
from cvmfs_operator.clients.kube import MERGE_PATCH, KubeClient
from cvmfs_operator.clients.simkubelet import Fate, SimulatedKubelet
from cvmfs_operator.render import names
from cvmfs_operator.stratum0 import simulated
from tests.support.cluster import OperatorProcess, eventually

CRDS = Path(__file__).resolve().parents[2] / "crds"
PRIVILEGED = {  # publisher pods are privileged (FUSE); Pod Security Admission must allow them
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/warn": "privileged",
    "pod-security.kubernetes.io/audit": "privileged",
}
T = TypeVar("T")


@dataclass(frozen=True)
class E2eConfig:
    """The session's choices, from the command line (see docs/e2e.md)."""

    against_emulator: bool
    operator: Literal["local", "deployed"]
    operator_namespace: str | None  # deployed mode: where the operator runs (publisher pods, Leases)
    simulate_kubelet: bool
    repository_file: Path | None  # real kubelet: Repository (+ Secrets) of a real, disposable repository
    s3_endpoint: str | None  # simulated kubelet: S3 for the simulated repositories (default: moto)
    publisher_image: str | None  # local operator: CVMFS_OPERATOR_PUBLISHER_IMAGE
    operator_rbac: Literal["chart", "kubeconfig"]  # local operator: whose permissions it runs with
    timeout: float  # deadline of every wait for the operator or the kubelet
    cleanup_timeout: float  # deadline of every wait for a deletion

    @property
    def real_api(self) -> bool:
        return not self.against_emulator


@dataclass(frozen=True)
class S3Store:
    """Where simulated publishes land: an S3 endpoint the operator can read (it checks every
    publish against the repository) and the simulated kubelet writes to."""

    endpoint: str
    access_key: str
    secret_key: str
    secret_name: str = "cvmfs-e2e-s3"  # the credentials Secret in the operator namespace

    def where(self, bucket: str, fqrn: str) -> simulated.Bucket:
        return simulated.Bucket(self.endpoint, bucket, fqrn, self.access_key, self.secret_key)

    def create_bucket(self, bucket: str) -> None:
        client = simulated.Bucket(self.endpoint, bucket, "", self.access_key, self.secret_key).client()
        client.create_bucket(Bucket=bucket)

    def seed(self, bucket: str, fqrn: str) -> None:
        """A repository at revision 2 with a whitelist, as after mkfs."""
        simulated.seed_repository(self.where(bucket, fqrn), fqrn, datetime.datetime.now(datetime.UTC))

    def stratum0(self, bucket: str, fqrn: str) -> dict[str, Any]:
        return {
            "url": f"{self.endpoint}/{bucket}/{fqrn}",
            "s3": {"endpoint": self.endpoint, "bucket": bucket, "region": "us-east-1", "addressing": "path",
                   "credentialsSecretRef": {"name": self.secret_name}},
        }

    def secret(self) -> dict[str, Any]:
        data = {contract.S3_ACCESS_KEY_FILE: self.access_key, contract.S3_SECRET_KEY_FILE: self.secret_key}
        return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": self.secret_name},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


@dataclass(frozen=True)
class Refusal:
    """What the API server answered to a write it refused."""

    status: int
    message: str


def is_gone(exc: ApiException) -> bool:
    return int(exc.status or 0) == 404


class Api:
    """Asynchronous access to the API server for the test code (never blocks the event loop)."""

    def __init__(self, api_client: kubernetes.client.ApiClient, emulated: bool = False) -> None:
        self.api_client = api_client
        # kmock's emulator cannot parse /api/v1/namespaces (it reads "namespaces" as a namespace)
        # and needs none: any namespace exists there. Namespace calls are no-ops on it.
        self.emulated = emulated
        self.kube = KubeClient(api_client)
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.custom = kubernetes.client.CustomObjectsApi(api_client)
        self.extensions = kubernetes.client.ApiextensionsV1Api(api_client)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def raw(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """A client call returning the plain JSON dict (the models lose unknown fields)."""
        kwargs.setdefault("_request_timeout", (5.0, 30.0))
        response = await asyncio.to_thread(fn, *args, _preload_content=False, **kwargs)
        data = response.data
        result: dict[str, Any] = yaml.safe_load(data) if data else {}
        return result

    async def refusal(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Refusal | None:
        """Run a write; None if it was accepted, else the status and message of the refusal."""
        try:
            await self.raw(fn, *args, **kwargs)
        except ApiException as exc:
            body: dict[str, Any] = {}
            try:
                body = yaml.safe_load(exc.body or "{}") or {}
            except yaml.YAMLError:
                body = {}
            return Refusal(int(exc.status or 0), str(body.get("message") or exc.reason or ""))
        return None

    # Namespaces

    async def create_namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        if self.emulated:
            return
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}
        await self.raw(self.core.create_namespace, body)

    async def namespace_exists(self, name: str) -> bool:
        if self.emulated:
            return True
        try:
            await self.raw(self.core.read_namespace, name)
        except ApiException as exc:
            if is_gone(exc):
                return False
            raise
        return True

    async def delete_namespace(self, name: str, timeout: float) -> None:
        """Delete and wait until it is really gone (a real namespace is Terminating for a while)."""
        if self.emulated:
            return
        try:
            await self.raw(self.core.delete_namespace, name)
        except ApiException as exc:
            if not is_gone(exc):
                raise

        async def gone() -> bool:
            return not await self.namespace_exists(name)
        await eventually(gone, timeout=timeout, what=f"namespace {name} deleted", interval=0.5)

    # Transactions and Repositories beyond tests.support.cluster.Cluster

    async def transactions(self, namespace: str) -> list[dict[str, Any]]:
        data = await self.raw(self.custom.list_namespaced_custom_object, GROUP, VERSION, namespace,
                              TRANSACTION_PLURAL)
        return [t for t in data.get("items", []) if t.get("metadata", {}).get("namespace") == namespace]

    async def delete_transaction(self, namespace: str, name: str) -> None:
        try:
            await self.raw(self.custom.delete_namespaced_custom_object, GROUP, VERSION, namespace,
                           TRANSACTION_PLURAL, name)
        except ApiException as exc:
            if not is_gone(exc):
                raise

    async def transaction_gone(self, namespace: str, name: str, uid: str | None = None) -> bool:
        try:
            txn = await self.raw(self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace,
                                 TRANSACTION_PLURAL, name)
        except ApiException as exc:
            if is_gone(exc):
                return True
            raise
        return uid is not None and txn.get("metadata", {}).get("uid") != uid

    async def strip_finalizers(self, namespace: str, name: str) -> None:
        """Last resort, only once the operator is stopped: let a stuck Transaction go."""
        try:
            await self.raw(self.custom.patch_namespaced_custom_object, GROUP, VERSION, namespace,
                           TRANSACTION_PLURAL, name, {"metadata": {"finalizers": []}},
                           _content_type=MERGE_PATCH)
        except ApiException as exc:
            if not is_gone(exc):
                raise

    async def release_simulated_pods(self, namespace: str) -> None:
        """Once the simulated kubelet has stopped: take its finalizer off the pods it still holds
        (left by a failed test), or the namespace would stay Terminating with them."""
        if self.emulated:
            return
        pods = await self.raw(self.core.list_namespaced_pod, namespace)
        for pod in pods.get("items", []):
            held = pod["metadata"].get("finalizers") or []
            if simkubelet.FINALIZER not in held:
                continue
            kept = [f for f in held if f != simkubelet.FINALIZER]
            try:
                await self.raw(self.core.patch_namespaced_pod, pod["metadata"]["name"], namespace,
                               {"metadata": {"finalizers": kept}}, _content_type=MERGE_PATCH)
            except ApiException as exc:
                if not is_gone(exc):
                    raise

    async def delete_repository(self, name: str, timeout: float) -> None:
        try:
            await self.raw(self.custom.delete_cluster_custom_object, GROUP, VERSION, REPOSITORY_PLURAL, name)
        except ApiException as exc:
            if not is_gone(exc):
                raise

        async def gone() -> bool:
            return await self.kube_call_none(self.kube.get_repository, name)
        await eventually(gone, timeout=timeout, what=f"Repository {name} deleted", interval=0.5)

    async def kube_call_none(self, fn: Callable[..., Any], *args: Any) -> bool:
        return await asyncio.to_thread(fn, *args) is None

    async def create_secret(self, namespace: str, body: dict[str, Any]) -> bool:
        """Create a Secret; False if it was already there (it is then left alone at the end)."""
        manifest = {**body, "metadata": {**body.get("metadata", {}), "namespace": namespace}}
        try:
            await self.raw(self.core.create_namespaced_secret, namespace, manifest)
        except ApiException as exc:
            if int(exc.status or 0) == 409:
                return False
            raise
        return True

    async def delete_secret(self, namespace: str, name: str) -> None:
        try:
            await self.raw(self.core.delete_namespaced_secret, name, namespace)
        except ApiException as exc:
            if not is_gone(exc):
                raise

    # CRDs

    async def install_crds(self, timeout: float) -> list[str]:
        """Create the CRDs from crds/*.yaml that are absent and wait until they are Established.

        CRDs already on the cluster (Helm, ``kubectl apply -f crds/``) are used as they are.
        Returns the names of the CRDs this call created, which the session deletes at the end.
        """
        created: list[str] = []
        crds = await asyncio.to_thread(load_crds)
        for body in crds:
            name = body["metadata"]["name"]
            try:
                await self.raw(self.extensions.read_custom_resource_definition, name)
                continue
            except ApiException as exc:
                if not is_gone(exc):
                    raise
            await self.raw(self.extensions.create_custom_resource_definition, body)
            created.append(name)
        for name in [str(body["metadata"]["name"]) for body in crds]:
            async def established(crd: str = name) -> bool:
                data = await self.raw(self.extensions.read_custom_resource_definition, crd)
                conditions = data.get("status", {}).get("conditions") or []
                return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
            await eventually(established, timeout=timeout, what=f"CRD {name} Established", interval=0.5)
        return created

    async def delete_crds(self, crds: Iterable[str], timeout: float) -> None:
        for name in crds:
            try:
                await self.raw(self.extensions.delete_custom_resource_definition, name)
            except ApiException as exc:
                if not is_gone(exc):
                    raise

            async def gone(crd: str = name) -> bool:
                try:
                    await self.raw(self.extensions.read_custom_resource_definition, crd)
                except ApiException as exc:
                    if is_gone(exc):
                        return True
                    raise
                return False
            await eventually(gone, timeout=timeout, what=f"CRD {name} deleted", interval=0.5)

    # Nodes

    async def schedulable_nodes(self) -> list[str]:
        """Nodes a publisher pod could be scheduled to (a real kubelet would then run it)."""
        data = await self.raw(self.core.list_node)
        found = []
        for node in data.get("items", []):
            spec, status = node.get("spec", {}), node.get("status", {})
            ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in status.get("conditions") or [])
            tainted = any(t.get("effect") in ("NoSchedule", "NoExecute") for t in spec.get("taints") or [])
            if ready and not spec.get("unschedulable") and not tainted:
                found.append(str(node["metadata"]["name"]))
        return found


def load_crds() -> list[dict[str, Any]]:
    """The CRDs of crds/*.yaml, the single source of truth."""
    crds = []
    for path in sorted(CRDS.glob("*.yaml")):
        with open(path) as f:
            crds.append(yaml.safe_load(f))
    return crds


class LocalOperator(OperatorProcess):
    """``cvmfs-operator`` as a child process, with only the settings this session chooses.

    On a real cluster ``CVMFS_OPERATOR_API_SERVER`` is left unset, so the operator reads KUBECONFIG
    exactly as a user would run it; against the emulator it points at the emulator's URL.
    """

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        super().__init__(env, log_path)
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CVMFS_OPERATOR_")}
        self.environ = {**inherited, **env}

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it until stop()
        self.process = subprocess.Popen([sys.executable, "-m", "cvmfs_operator.cli.operator"],
                                        env=self.environ, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class ScopedKube(KubeClient):
    """What the simulated kubelet sees: only the publisher pods of this session's Transactions.

    With a deployed operator the namespace is shared with real users; their pods are not ours to run.
    """

    def __init__(self, api_client: kubernetes.client.ApiClient, namespaces: set[str]) -> None:
        super().__init__(api_client)
        self.namespaces = namespaces

    def list_pods(self, namespace: str, labels: Any) -> list[dict[str, Any]]:
        ours = frozenset(self.namespaces)
        return [pod for pod in super().list_pods(namespace, labels)
                if _label(pod, names.LABEL_TRANSACTION_NAMESPACE) in ours]


def _label(obj: dict[str, Any], key: str) -> str:
    return str((obj.get("metadata", {}).get("labels") or {}).get(key, ""))


class Kubelet:
    """The test's kubelet (``--simulate-kubelet``): a fate per Transaction, by namespace and name."""

    def __init__(self, kube: KubeClient, operator_namespace: str, s3: S3Store | None) -> None:
        self.fates: dict[tuple[str, str], Fate] = {}
        self.runs: list[tuple[str, str, str]] = []  # (namespace, name, pod) in start order
        self._guard = threading.Lock()
        # A successful pod really publishes: simulated objects written to the repository's S3.
        publish = (simulated.publisher(simulated.s3_stores(s3.access_key, s3.secret_key))
                   if s3 is not None else None)
        self.sim = SimulatedKubelet(kube, operator_namespace, self._fate, publish=publish)

    def _fate(self, pod: dict[str, Any]) -> Fate:
        """Called once per pod, when the kubelet first sees it."""
        key = (_label(pod, names.LABEL_TRANSACTION_NAMESPACE), _label(pod, names.LABEL_TRANSACTION_NAME))
        with self._guard:
            self.runs.append((*key, pod["metadata"]["name"]))
            return self.fates.get(key, Fate())

    def decide(self, namespace: str, name: str, fate: Fate) -> None:
        with self._guard:
            self.fates[(namespace, name)] = fate

    def started(self, namespace: str, name: str) -> list[str]:
        """Publisher pods the kubelet ran for one Transaction, in order."""
        with self._guard:
            return [pod for ns, txn, pod in self.runs if (ns, txn) == (namespace, name)]

    def order(self, namespace: str) -> list[str]:
        """Transactions of one namespace whose pods the kubelet ran, in start order."""
        with self._guard:
            return [txn for ns, txn, _ in self.runs if ns == namespace]

    @property
    def overlaps(self) -> list[str]:
        return list(self.sim.activity.overlaps)


@dataclass
class Janitor:
    """What the tests could not clean up while the operator ran; dealt with once it has stopped."""

    api: Api
    config: E2eConfig
    leftovers: list[str] = field(default_factory=list)  # release namespaces with stuck Transactions

    async def finish(self, operator_stopped: bool) -> list[str]:
        """Strip finalizers (only if the operator is stopped) and delete the namespaces; returns
        what is still left for a human."""
        remaining = []
        for namespace in self.leftovers:
            if not operator_stopped:
                remaining.append(namespace)
                continue
            for txn in await self.api.transactions(namespace):
                await self.api.strip_finalizers(namespace, txn["metadata"]["name"])
            await self.api.delete_namespace(namespace, self.config.cleanup_timeout)
        return remaining


def parse_stamp(text: str | None) -> datetime.datetime:
    """An RFC 3339 timestamp from the API (second resolution)."""
    assert text, "a timestamp was expected"
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


async def after_second_of(stamp: str) -> None:
    """Wait until the wall clock has left the second of ``stamp`` (creationTimestamps have second
    resolution; objects created within one second tie). A wait on the clock, not a guess."""
    target = parse_stamp(stamp).timestamp() + 1.05
    await asyncio.sleep(max(0.0, target - time.time()))
