"""A client-side rate limit on the operator's Kubernetes API requests: a token bucket, as client-go's.

client-go limits every client to ``QPS`` requests per second on average with bursts of up to
``Burst`` (the bucket's size); controllers usually run with a few tens per second. The bucket here
does the same for every request of one ``ApiClient`` (:func:`install` wraps its REST client, so
gets, lists, writes and the start of each watch all take a token): a request that finds the bucket
empty waits its turn in its own thread (the client is synchronous), in the order the requests
came. API Priority and Fairness may still answer 429 with ``Retry-After``: that is honoured where
the error is handled (``errors.KubeError.retry_after``); this limit keeps the operator from
getting there in the first place.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; one token per request."""

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, got {rate} and {burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._guard = threading.Lock()
        self.waited = 0.0  # seconds callers spent waiting, in total (a figure for metrics and tests)

    def reserve(self) -> float:
        """Take a token now; returns how long the caller must wait before using it (0: at once).

        Tokens may go below zero: each caller is promised the next free token in turn, so callers
        are served in order and the rate holds however many threads ask at once."""
        with self._guard:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> float:
        """Wait for a token; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
            with self._guard:
                self.waited += wait
        return wait


def from_settings(qps: float, burst: int) -> TokenBucket | None:
    """The bucket for ``CVMFS_OPERATOR_API_QPS`` / ``_BURST``; None when ``qps`` is 0 (no limit)."""
    return TokenBucket(qps, max(1, burst)) if qps > 0 else None


def install(api_client: Any, bucket: TokenBucket) -> None:
    """Make every request of a ``kubernetes.client.ApiClient`` take a token from ``bucket`` first."""
    rest = api_client.rest_client
    request = rest.request

    @functools.wraps(request)
    def limited(*args: Any, **kwargs: Any) -> Any:
        bucket.acquire()
        return request(*args, **kwargs)

    rest.request = limited
    api_client.rate_limit = bucket
