"""Endpoints that did not answer, remembered for a while: one dead Stratum 0 costs one read.

Many Repositories share one S3 endpoint. When a health read finds an endpoint unreachable (a
timeout, a refused connection, a name that does not resolve), the reads of the other Repositories
on it within ``hold`` seconds are not tried: they are reported Unreachable at once, with what the
last read met, instead of each holding a thread until its own timeout. The first read after
``hold`` tries the endpoint again; an answer forgets the failure. At most ``max_endpoints`` are
remembered (the oldest failure is forgotten first).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from cvmfs_operator.stratum0.errors import Unreachable
from cvmfs_operator.stratum0.observation import Observation

MAX_ENDPOINTS = 1024


def unreachable(observation: Observation) -> Unreachable | None:
    for part in (observation.manifest, observation.whitelist):
        if isinstance(part, Unreachable):
            return part
    return None


class UnansweredEndpoints:
    def __init__(self, hold: float, max_endpoints: int = MAX_ENDPOINTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hold = hold
        self.max_endpoints = max_endpoints
        self._clock = clock
        self._failed: collections.OrderedDict[str, tuple[float, str]] = collections.OrderedDict()
        self._guard = threading.Lock()
        self.spared = 0  # reads not tried because their endpoint had just failed

    def __len__(self) -> int:
        return len(self._failed)

    def observe(self, endpoint: str, read: Callable[[], Observation]) -> Observation:
        """``read()``, unless ``endpoint`` failed less than ``hold`` seconds ago."""
        with self._guard:
            failed = self._failed.get(endpoint)
            now = self._clock()
            if failed is not None and now - failed[0] < self.hold:
                self.spared += 1
                message = (f"{endpoint} did not answer {now - failed[0]:.0f} s ago; not tried again "
                           f"yet: {failed[1]}")
                return Observation(manifest=Unreachable(message), whitelist=None)
        observation = read()
        error = unreachable(observation)
        with self._guard:
            if error is None:
                self._failed.pop(endpoint, None)
            else:
                self._failed[endpoint] = (self._clock(), error.message)
                self._failed.move_to_end(endpoint)
                while len(self._failed) > self.max_endpoints:
                    self._failed.popitem(last=False)
        return observation
