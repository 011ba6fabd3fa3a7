"""What the operator knows of the API server's objects: fed by watches and by its own writes.

A :class:`Store` holds one kind of object by (namespace, name) and always keeps the newest version
it has seen, whichever way it arrived: a watch event, a list, or the response of the operator's own
create or patch (write-through, so the next decision does not act on what it just changed). The
newest is decided by ``metadata.resourceVersion`` compared as integers, which every API server in
use (etcd's revision) and the project's emulator produce; a version that is not an integer is
taken as newer (trust what arrived last). A deleted object leaves a tombstone for a while, so a
write response that raced with its deletion does not bring it back.

Decisions made from a store may be stale, never wrong about safety: the lock is a Lease created
atomically, pods have deterministic names, and status writes carry the resourceVersion they were
decided from (a conflict makes the caller read the object afresh).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Key = tuple[str, str]  # (namespace or "", name)
TOMBSTONE_SECONDS = 300.0
TOMBSTONES_MAX = 10_000


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def version_of(obj: Mapping[str, Any]) -> int | None:
    value = (obj.get("metadata") or {}).get("resourceVersion")
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _newer(candidate: int | None, known: int | None) -> bool:
    """Whether a version may replace the known one (equal: the same object, take it)."""
    return candidate is None or known is None or candidate >= known


class Store:
    def __init__(self, kind: str, trim: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.kind = kind
        self._objects: dict[Key, dict[str, Any]] = {}
        self._tombstones: dict[Key, tuple[int | None, float]] = {}
        self._guard = threading.Lock()
        # (label, value) -> keys: a selection reads the objects carrying one of its labels, not
        # every object (the control loop selects a repository's or a Transaction's pods each step).
        self._by_label: dict[tuple[str, str], set[Key]] = {}
        self._trim = trim
        self.synced = threading.Event()  # set once a complete list has been loaded

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._guard:
            return self._objects.get((namespace, name))

    def select(self, labels: Mapping[str, str], namespace: str | None = None) -> list[dict[str, Any]]:
        with self._guard:
            if labels:
                keys = min((self._by_label.get(pair, set()) for pair in labels.items()), key=len)
                objects = [self._objects[key] for key in keys]
            else:
                objects = list(self._objects.values())
        return [obj for obj in objects
                if (namespace is None or (obj.get("metadata") or {}).get("namespace") == namespace)
                and all(_labels(obj).get(k) == v for k, v in labels.items())]

    def _index(self, key: Key, obj: Mapping[str, Any]) -> None:
        """Under the guard: ``key`` holds ``obj`` from now on (after :meth:`_unindex`)."""
        for pair in _labels(obj).items():
            self._by_label.setdefault(pair, set()).add(key)

    def _unindex(self, key: Key) -> None:
        """Under the guard: ``key``'s stored object leaves the index."""
        old = self._objects.get(key)
        for pair in _labels(old).items() if old is not None else ():
            keys = self._by_label.get(pair)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_label[pair]

    def put(self, obj: Mapping[str, Any]) -> bool:
        """Keep ``obj`` unless a newer version (or its deletion) is already known."""
        key = key_of(obj)
        version = version_of(obj)
        stored = dict(obj) if self._trim is None else self._trim(dict(obj))
        with self._guard:
            tomb = self._tombstones.get(key)
            if tomb is not None and version is not None and tomb[0] is not None and version <= tomb[0]:
                return False
            known = self._objects.get(key)
            if known is not None and not _newer(version, version_of(known)):
                return False
            self._unindex(key)
            self._index(key, stored)
            self._objects[key] = stored
            self._tombstones.pop(key, None)
            return True

    def delete(self, obj: Mapping[str, Any]) -> None:
        """The object is gone (a DELETED event): forget it, unless a newer version is known."""
        key = key_of(obj)
        version = version_of(obj)
        with self._guard:
            known = self._objects.get(key)
            if known is not None and version is not None and (version_of(known) or 0) > version:
                return  # re-created since
            self._unindex(key)
            self._objects.pop(key, None)
            self._tombstones[key] = (version, time.monotonic())
            if len(self._tombstones) > TOMBSTONES_MAX:
                self._prune()

    def invalidate(self, namespace: str, name: str) -> None:
        """Forget what is known (it proved stale): the next reader asks the API server."""
        with self._guard:
            self._unindex((namespace, name))
            self._objects.pop((namespace, name), None)

    def replace(self, objects: Iterable[Mapping[str, Any]], version: str | None) -> None:
        """A complete list taken at ``version``: exactly these objects existed then. What the
        store learnt after that moment (a write response newer than the list) is kept."""
        try:
            listed = int(version) if version is not None else None
        except ValueError:
            listed = None
        fresh = {key_of(obj): (dict(obj) if self._trim is None else self._trim(dict(obj))) for obj in objects}
        with self._guard:
            for key in list(fresh):
                tomb = self._tombstones.get(key)
                if tomb is not None and listed is not None and tomb[0] is not None and tomb[0] > listed:
                    del fresh[key]  # deleted after the list was taken
            for key, known in self._objects.items():
                known_version = version_of(known)
                newer = listed is not None and known_version is not None and known_version > listed
                if newer and (key not in fresh or _newer(known_version, version_of(fresh[key]))):
                    fresh[key] = known
            for key in self._objects.keys() - fresh.keys():
                self._tombstones[key] = (version_of(self._objects[key]), time.monotonic())
            self._objects = fresh
            self._by_label = {}
            for key, obj in fresh.items():
                self._index(key, obj)
            for key in fresh:
                self._tombstones.pop(key, None)
        self.synced.set()

    def _prune(self) -> None:
        cutoff = time.monotonic() - TOMBSTONE_SECONDS
        self._tombstones = {k: v for k, v in self._tombstones.items() if v[1] >= cutoff}


def trim_object(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop what no decision reads and what is large: managed fields and kopf's copy of the spec."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if annotations:
        meta["annotations"] = {k: v for k, v in annotations.items()
                               if not k.endswith("last-handled-configuration")
                               and not k.startswith("kopf.zalando.org/")}
    obj["metadata"] = meta
    return obj
