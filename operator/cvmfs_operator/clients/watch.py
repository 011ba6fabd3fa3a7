"""Informers on the operator's own namespace: a list, then a watch from the list's version.

Two are run (handlers/setup.py): publisher pods and the repository lock Leases. Each keeps a
:class:`~cvmfs_operator.clients.cache.Store` that the control loop reads instead of asking the API
server on every step, and calls back on every change, which wakes whoever waits for it at once (a
pod's change wakes its Transaction; a released lock wakes the repository's queue, whichever
operator process released it). Each watch is namespaced and label-selected (no cluster-wide
access). It reconnects with backoff, resuming from the last version it saw, and lists afresh when
that version is too old (410 Gone); after a gap ``on_gap`` is called (events may have been missed).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from cvmfs_operator.clients.cache import Store
from cvmfs_operator.clients.kube import KubeClient

LOG = logging.getLogger(__name__)
WATCH_SECONDS = 300
QUIET_END_SECONDS = 5.0  # a watch that ends sooner without a single event is taken as broken
BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)

Callback = Callable[[str, Mapping[str, Any]], None]  # (event type, the object's metadata)
LIST_TIMEOUT = (10, 60)
ListCall = Callable[..., Any]  # e.g. CoreV1Api.list_namespaced_pod


class Watcher:
    def __init__(self, list_call: ListCall, namespace: str, labels: Mapping[str, str],
                 callback: Callback, name: str, on_gap: Callable[[], None] | None = None,
                 store: Store | None = None, quiet_end: float = QUIET_END_SECONDS) -> None:
        self.store = store if store is not None else Store(name)
        self._quiet_end = quiet_end
        self._on_gap = on_gap
        self._list = list_call
        self._name = name
        self._namespace = namespace
        self._labels = dict(labels)
        self._selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        self._callback = callback
        self._stopping = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        response = self._response
        if response is not None:  # unblock a read waiting for the next event
            with contextlib.suppress(OSError, AttributeError):  # shutdown(): urllib3 >= 2.3
                response.shutdown()
        self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        version: str | None = None
        first = True
        while not self._stopping.is_set():
            if not first and self._on_gap is not None:
                self._on_gap()  # events may have been missed between two streams
            first = False
            try:
                if version is None:
                    version = self._relist()
                version = self._stream(version)
                failures = 0
            except ApiException as exc:
                if exc.status == 410:  # too old: start again from a fresh list
                    version = None
                    continue
                failures += 1
                LOG.warning("The %s watch failed (%s); retrying", self._name, exc.status)
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                if self._stopping.is_set():
                    break
                failures += 1
                LOG.warning("The %s watch broke (%s); retrying", self._name, type(exc).__name__)
            if failures:
                self._stopping.wait(BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS)) - 1])

    def _relist(self) -> str | None:
        """The complete current state, and the version to watch from."""
        response = self._list(self._namespace, label_selector=self._selector, _preload_content=False,
                              _request_timeout=LIST_TIMEOUT)
        data = json.loads(response.data or b"{}")
        items = [item for item in data.get("items") or [] if self._matches(item.get("metadata") or {})]
        listed = (data.get("metadata") or {}).get("resourceVersion")
        self.store.replace(items, listed)
        return str(listed) if listed else None

    def _matches(self, meta: Mapping[str, Any]) -> bool:
        # The selector is an optimisation (some API servers ignore it): match again here.
        labels = meta.get("labels") or {}
        return all(labels.get(k) == v for k, v in self._labels.items())

    def _stream(self, version: str | None) -> str | None:
        """One watch request, read as it arrives (``read1``: whatever is there, chunked or not).

        ``watch="true"`` is spelled as a string: the client would send Python's ``True``, which
        some API implementations do not take for a watch. Events are decoded as plain JSON (no
        model objects): only the labels and the resourceVersion are needed.
        """
        kwargs: dict[str, Any] = {"label_selector": self._selector, "timeout_seconds": WATCH_SECONDS,
                                  "watch": "true", "_preload_content": False,
                                  "_request_timeout": (10, WATCH_SECONDS + 30)}
        if version:
            kwargs["resource_version"] = version
            kwargs["allow_watch_bookmarks"] = True
        began = time.monotonic()
        response = self._list(self._namespace, **kwargs)
        self._response = response
        pending = b""
        events = 0
        try:
            while not self._stopping.is_set():
                data = response.read1(65536)
                if not data:
                    break
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    version = self._event(line, version)
                    events += 1
        finally:
            self._response = None
            response.release_conn()
        # A real API server ends a quiet watch after timeout_seconds with no event at all (an idle
        # namespace, no bookmark due): a normal end, watched again from the same version. One
        # that ends at once without an event is broken: back off, then retry.
        if not events and time.monotonic() - began < self._quiet_end:
            raise ValueError("the watch ended without a single event")
        return version

    def _event(self, line: bytes, version: str | None) -> str | None:
        if not line.strip():
            return version
        event = json.loads(line)
        kind = str(event.get("type", ""))
        obj = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise ApiException(status=410, reason="Gone")
            raise ValueError(f"watch error {obj.get('code')}")
        meta = obj.get("metadata") or {}
        version = meta.get("resourceVersion") or version
        if kind == "BOOKMARK":
            return version
        if self._matches(meta):
            if kind == "DELETED":
                self.store.delete(obj)
            else:
                self.store.put(obj)
            self._callback(kind, meta)
        return version


def publisher_pods(kube: KubeClient, namespace: str, labels: Mapping[str, str], callback: Callback,
                   on_gap: Callable[[], None] | None = None, store: Store | None = None) -> Watcher:
    return Watcher(kube.core.list_namespaced_pod, namespace, labels, callback, "publisher pod",
                   on_gap, store)


def leases(kube: KubeClient, namespace: str, labels: Mapping[str, str], callback: Callback,
           on_gap: Callable[[], None] | None = None, store: Store | None = None) -> Watcher:
    return Watcher(kube.coordination.list_namespaced_lease, namespace, labels, callback, "repository lock",
                   on_gap, store)
