"""Secrets the operator reads often (S3 credentials), kept for a while: see handlers/stratum0_access.py."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from cvmfs_operator.clients.kube import KubeClient

SECRET_MAX_AGE = 600.0
MAX_SECRETS = 4096


class SecretCache:
    """Secrets' data by (namespace, name), each kept ``max_age`` seconds, least recently used
    dropped beyond ``max_entries``. Safe to use from many threads."""

    def __init__(self, max_age: float = SECRET_MAX_AGE, max_entries: int = MAX_SECRETS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self.max_entries = max_entries
        self._clock = clock
        self._entries: collections.OrderedDict[tuple[str, str], tuple[float, dict[str, str]]] = \
            collections.OrderedDict()
        self._guard = threading.Lock()

    def read(self, kube: KubeClient, namespace: str, name: str) -> dict[str, str]:
        key = (namespace, name)
        with self._guard:
            found = self._entries.get(key)
            if found is not None and self._clock() - found[0] < self.max_age:
                self._entries.move_to_end(key)
                return found[1]
        data = kube.read_secret(namespace, name)  # outside the lock: other Secrets are not held up
        with self._guard:
            self._entries[key] = (self._clock(), data)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return data

    def forget(self, namespace: str, name: str) -> None:
        with self._guard:
            self._entries.pop((namespace, name), None)
