"""Endpoints that did not answer, remembered: one dead Stratum 0 costs one read, and little CPU.

Many Repositories share one S3 endpoint. When a health read finds an endpoint unreachable (a
timeout, a refused connection, a name that does not resolve), the reads of the other Repositories
on it within ``hold`` seconds are not tried: they are reported Unreachable at once, with what the
last read met, instead of each holding a thread until its own timeout. An endpoint seen for the
first time, and after ``hold`` an endpoint that failed, is first looked up in DNS (unless a proxy
is configured, which may resolve names this host cannot): a name that does not resolve is
reported at once, without building an S3
client (a few ms of CPU and a few hundred kB each) for a read that cannot succeed. Otherwise the
read is tried; an answer forgets the failure. At most ``max_endpoints`` failures are remembered
(the oldest is forgotten first), and at most as many names that were looked up.
"""

from __future__ import annotations

import collections
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import TypeVar

from cvmfs_operator.stratum0.errors import Unreachable
from cvmfs_operator.stratum0.observation import Observation

MAX_ENDPOINTS = 4096
V = TypeVar("V")


def resolves(endpoint: str) -> bool | None:
    """Whether the endpoint's host name resolves; None when that says nothing (no host name, a
    proxy from the environment would resolve it, or the lookup itself failed otherwise)."""
    parts = urllib.parse.urlsplit(endpoint)
    if not parts.hostname or urllib.request.getproxies():
        return None
    try:
        socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                           type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        return False if error.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)) else None
    except (OSError, ValueError):
        return None
    return True


def unreachable(observation: Observation) -> Unreachable | None:
    for part in (observation.manifest, observation.whitelist):
        if isinstance(part, Unreachable):
            return part
    return None


class UnansweredEndpoints:
    def __init__(self, hold: float, max_endpoints: int = MAX_ENDPOINTS,
                 clock: Callable[[], float] = time.monotonic,
                 resolve: Callable[[str], bool | None] = resolves) -> None:
        self.hold = hold
        self.max_endpoints = max_endpoints
        self._clock = clock
        self._resolve = resolve
        self._failed: collections.OrderedDict[str, tuple[float, str]] = collections.OrderedDict()
        self._resolved: collections.OrderedDict[str, None] = collections.OrderedDict()  # looked up once
        self._guard = threading.Lock()
        self.spared = 0  # reads not tried because their endpoint had just failed

    def __len__(self) -> int:
        return len(self._failed)

    def observe(self, endpoint: str, read: Callable[[], Observation]) -> Observation:
        """``read()``, unless ``endpoint`` failed less than ``hold`` seconds ago or still does not
        resolve."""
        with self._guard:
            failed = self._failed.get(endpoint)
            now = self._clock()
            if failed is not None and now - failed[0] < self.hold:
                self.spared += 1
                message = (f"{endpoint} did not answer {now - failed[0]:.0f} s ago; not tried again "
                           f"yet: {failed[1]}")
                return Observation(manifest=Unreachable(message), whitelist=None)
        if failed is None and not self._known(endpoint):
            # First sight: a name that does not resolve is reported without building a client (a
            # few hundred kB of garbage once dropped from the pool, per endpoint).
            if self._resolve(endpoint) is False:
                message = f"{endpoint}: the host name does not resolve"
                with self._guard:
                    self.spared += 1
                    self._remember_failure(endpoint, message)
                return Observation(manifest=Unreachable(message), whitelist=None)
            with self._guard:
                self._bounded_put(self._resolved, endpoint, None)
        elif failed is not None and self._resolve(endpoint) is False:
            with self._guard:
                self.spared += 1
                self._failed[endpoint] = (self._clock(), failed[1])
            return Observation(manifest=Unreachable(f"{endpoint}: the host name does not resolve; "
                                                    f"before: {failed[1]}"), whitelist=None)
        observation = read()
        error = unreachable(observation)
        with self._guard:
            if error is None:
                self._failed.pop(endpoint, None)
            else:
                self._remember_failure(endpoint, error.message)
        return observation

    def _known(self, endpoint: str) -> bool:
        with self._guard:
            if endpoint in self._resolved:
                self._resolved.move_to_end(endpoint)
                return True
            return False

    def _remember_failure(self, endpoint: str, message: str) -> None:
        """Under the guard."""
        self._bounded_put(self._failed, endpoint, (self._clock(), message))

    def _bounded_put(self, entries: collections.OrderedDict[str, V], endpoint: str, value: V) -> None:
        """Under the guard: ``endpoint`` as the newest entry, the oldest ones beyond the bound dropped."""
        entries[endpoint] = value
        entries.move_to_end(endpoint)
        while len(entries) > self.max_endpoints:
            entries.popitem(last=False)
