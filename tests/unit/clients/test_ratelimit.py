"""The client-side rate limit: a token bucket with client-go's QPS and Burst, on an injected clock."""

from __future__ import annotations

import pytest

from cvmfs_operator.clients import ratelimit
from cvmfs_operator.clients.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def bucket(rate: float = 10.0, burst: int = 5) -> tuple[TokenBucket, Clock]:
    clock = Clock()
    return TokenBucket(rate, burst, clock=clock, sleep=clock.sleep), clock


def test_a_full_bucket_lets_a_burst_through_at_once() -> None:
    limit, _ = bucket(rate=10.0, burst=5)
    assert [limit.reserve() for _ in range(5)] == [0.0] * 5


def test_beyond_the_burst_each_request_waits_its_turn_at_the_rate() -> None:
    limit, _ = bucket(rate=10.0, burst=5)
    for _ in range(5):
        limit.reserve()
    assert [limit.reserve() for _ in range(3)] == pytest.approx([0.1, 0.2, 0.3])


def test_tokens_come_back_with_time_but_never_beyond_the_burst() -> None:
    limit, clock = bucket(rate=10.0, burst=5)
    for _ in range(5):
        limit.reserve()
    clock.now += 0.25  # 2.5 tokens back
    assert [limit.reserve() for _ in range(3)] == pytest.approx([0.0, 0.0, 0.05])
    clock.now += 3600
    assert [limit.reserve() for _ in range(6)] == pytest.approx([0.0] * 5 + [0.1])


def test_acquire_sleeps_the_wait_and_the_long_run_rate_holds() -> None:
    limit, clock = bucket(rate=50.0, burst=100)
    start = clock.now
    for _ in range(1100):
        limit.acquire()
    # 100 at once, then 1,000 at 50 per second: 20 s.
    assert clock.now - start == pytest.approx(20.0)
    assert limit.waited == pytest.approx(sum(clock.slept))


def test_qps_zero_means_no_limit_and_nonsense_is_refused() -> None:
    assert ratelimit.from_settings(0.0, 100) is None
    configured = ratelimit.from_settings(20.0, 40)
    assert configured is not None
    assert (configured.rate, configured.burst) == (20.0, 40)
    with pytest.raises(ValueError, match="rate > 0"):
        TokenBucket(0.0, 1)
    with pytest.raises(ValueError, match="burst >= 1"):
        TokenBucket(1.0, 0)


class FakeRest:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def request(self, method: str, url: str) -> str:
        self.calls.append(method)
        return f"{method} {url}"

    def GET(self, url: str) -> str:  # the kubernetes client's name
        return self.request("GET", url)


class FakeApiClient:
    def __init__(self) -> None:
        self.rest_client = FakeRest()


def test_install_makes_every_request_of_the_client_take_a_token() -> None:
    limit, clock = bucket(rate=2.0, burst=1)
    api_client = FakeApiClient()
    ratelimit.install(api_client, limit)
    assert api_client.rest_client.GET("/api") == "GET /api"
    assert api_client.rest_client.request("PATCH", "/x") == "PATCH /x"
    assert api_client.rest_client.calls == ["GET", "PATCH"]
    assert clock.slept == [0.5]
