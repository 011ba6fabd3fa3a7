"""Talk to a Kubernetes API (the emulator or a real cluster) the way users and nodes do.

Everything here goes over HTTP through the official client; async wrappers run the sync client in
a thread, because the emulator serves from the test's own event loop.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml

from cvmfs_operator.api.types import GROUP, REPOSITORY_PLURAL, TRANSACTION_PLURAL, VERSION
from cvmfs_operator.clients.errors import AlreadyExists, NotFound
from cvmfs_operator.clients.kube import KubeClient
from cvmfs_operator.render import names

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], *, timeout: float, what: str,
                     interval: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last seen: {last!r}")


def load_example(name: str) -> list[dict[str, Any]]:
    with open(EXAMPLES / name) as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


class Cluster:
    def __init__(self, kube: KubeClient, operator_namespace: str) -> None:
        self.kube = kube
        self.operator_namespace = operator_namespace

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # Repositories and Transactions

    async def create_repository(self, body: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(body)
        result: dict[str, Any] = await self._run(
            self.kube._call, "create Repository", self.kube.custom.create_cluster_custom_object,
            GROUP, VERSION, REPOSITORY_PLURAL, body)
        return result

    async def delete_repository(self, name: str) -> None:
        await self._run(self.kube._maybe, "delete Repository", self.kube.custom.delete_cluster_custom_object,
                        GROUP, VERSION, REPOSITORY_PLURAL, name)

    async def annotate_repository(self, name: str, annotations: dict[str, str]) -> None:
        await self._run(self.kube._call, "annotate Repository", self.kube.custom.patch_cluster_custom_object,
                        GROUP, VERSION, REPOSITORY_PLURAL, name, {"metadata": {"annotations": annotations}})

    async def repository(self, name: str) -> dict[str, Any] | None:
        repo = await self._run(self.kube.get_repository, name)
        return cast(dict[str, Any] | None, repo)

    async def create_transaction(self, body: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(body)
        namespace = body["metadata"]["namespace"]
        result: dict[str, Any] = await self._run(
            self.kube._call, "create Transaction", self.kube.custom.create_namespaced_custom_object,
            GROUP, VERSION, namespace, TRANSACTION_PLURAL, body)
        return result

    async def delete_transaction(self, namespace: str, name: str) -> None:
        await self._run(self.kube._maybe, "delete Transaction",
                        self.kube.custom.delete_namespaced_custom_object,
                        GROUP, VERSION, namespace, TRANSACTION_PLURAL, name)

    async def transaction(self, namespace: str, name: str) -> dict[str, Any] | None:
        txn = await self._run(self.kube.get_transaction, namespace, name)
        return cast(dict[str, Any] | None, txn)

    async def status(self, namespace: str, name: str) -> dict[str, Any]:
        txn = await self.transaction(namespace, name)
        return dict((txn or {}).get("status") or {})

    async def wait_phase(self, namespace: str, name: str, phase: str, timeout: float = 60.0
                         ) -> dict[str, Any]:
        async def check() -> dict[str, Any] | None:
            status = await self.status(namespace, name)
            return status if status.get("phase") == phase else None
        return await eventually(check, timeout=timeout, what=f"Transaction {namespace}/{name} {phase}")

    async def wait_gone(self, namespace: str, name: str, timeout: float = 60.0) -> None:
        async def check() -> bool:
            return await self.transaction(namespace, name) is None
        await eventually(check, timeout=timeout, what=f"Transaction {namespace}/{name} deleted")

    async def create_secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                "type": "Opaque",
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
        try:
            await self._run(self.kube._call, "create Secret", self.kube.core.create_namespaced_secret,
                            namespace, body)
        except AlreadyExists:
            return

    # What the operator owns

    async def publisher_pods(self, uid: str | None = None) -> list[dict[str, Any]]:
        labels = {names.LABEL_COMPONENT: "publisher"}
        if uid:
            labels[names.LABEL_TRANSACTION_UID] = uid
        return await self._run(self.kube.list_pods, self.operator_namespace, labels)

    async def lock_holder(self, fqrn: str) -> str | None:
        lease = await self._run(self.kube.get_lease, self.operator_namespace, names.lock_name(fqrn))
        return None if lease is None else str(lease.get("spec", {}).get("holderIdentity"))

    async def idle(self, fqrn: str) -> bool:
        """No publisher pod left and the repository's lock released."""
        return not await self.publisher_pods() and await self.lock_holder(fqrn) is None

    async def events_for(self, namespace: str, name: str) -> list[str]:
        try:
            data = await self._run(self.kube._call, "list events", self.kube.core.list_namespaced_event,
                                   namespace)
        except NotFound:
            return []
        return [str(e.get("message", "")) for e in data.get("items", [])
                if e.get("involvedObject", {}).get("name") == name]


def free_port() -> int:
    """A loopback port nobody listens on now (for the operator's metrics or liveness server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OperatorProcess:
    """The real operator (``cvmfs-operator``) as a child process, pointed at an API server."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it until stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cvmfs_operator.cli.operator"],
            env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
