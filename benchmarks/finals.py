"""Which of the benchmark's Transactions are final, from a watch instead of a LIST loop.

The benchmark used to LIST every Transaction of its namespace every 0.2 s until all were final:
with 1,000 Transactions that is megabytes of JSON a second for the API server to encode and the
harness to decode, on the same cores as the operator it measures. This keeps one list and a watch
from its version (the operator's own informer, ``clients/watch.Watcher``) and wakes the waiter on
every change.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tests.support import invariants

from cvmfs_operator.api.types import GROUP, TRANSACTION_PLURAL, VERSION
from cvmfs_operator.clients.cache import Store
from cvmfs_operator.clients.kube import KubeClient
from cvmfs_operator.clients.watch import Watcher


def _phase_only(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {"metadata": {key: meta.get(key) for key in ("name", "namespace", "resourceVersion", "labels")},
            "status": {"phase": (obj.get("status") or {}).get("phase")}}


class Finals:
    def __init__(self, kube: KubeClient, namespace: str) -> None:
        self._namespace = namespace
        self._changed = threading.Event()

        def list_transactions(namespace: str, **kwargs: Any) -> Any:
            return kube.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, TRANSACTION_PLURAL,
                                                             **kwargs)

        self._store = Store("benchmark Transaction", trim=_phase_only)
        self._watcher = Watcher(list_transactions, namespace, {}, self._on_change, "benchmark Transaction",
                                on_gap=self._changed.set, store=self._store)
        self._started = False

    def _on_change(self, kind: str, meta: Mapping[str, Any]) -> None:
        self._changed.set()

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._watcher.start()

    def stop(self) -> None:
        if self._started:
            self._watcher.stop()

    def phases(self) -> dict[str, str | None]:
        return {str(obj["metadata"]["name"]): obj["status"]["phase"]
                for obj in self._store.select({}, self._namespace)}

    async def wait(self, names: Iterable[str], timeout: float) -> bool:
        """True once every one of ``names`` is final; False at the deadline."""
        wanted = set(names)
        return await self._until(lambda found: all(found.get(n) in invariants.FINAL for n in wanted), timeout)

    async def wait_gone(self, timeout: float) -> bool:
        """True once the namespace holds no Transaction (deleted, their finalizers done)."""
        return await self._until(lambda phases: not phases, timeout)

    async def _until(self, done: Callable[[dict[str, str | None]], bool], timeout: float) -> bool:
        self.start()
        deadline = time.monotonic() + timeout
        if not await asyncio.to_thread(self._store.synced.wait, timeout):
            return False
        while True:
            self._changed.clear()  # before reading: a change from now on wakes the wait below
            if done(self.phases()):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.to_thread(self._changed.wait, min(left, 1.0))
