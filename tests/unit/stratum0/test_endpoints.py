"""An endpoint that did not answer is not tried again by the other Repositories on it for a while."""

from __future__ import annotations

from cvmfs_operator.stratum0 import ObjectMissing, Observation, Unreachable
from cvmfs_operator.stratum0.endpoints import UnansweredEndpoints

DOWN = Observation(manifest=Unreachable("S3 endpoint http://s3:9000 did not answer: timed out"),
                   whitelist=None)
ANSWERED = Observation(manifest=ObjectMissing("no manifest"), whitelist=None)


class Reads:
    def __init__(self, result: Observation) -> None:
        self.result = result
        self.count = 0

    def __call__(self) -> Observation:
        self.count += 1
        return self.result


def test_after_a_failure_the_endpoint_is_not_tried_until_hold_has_passed() -> None:
    now = [0.0]
    endpoints = UnansweredEndpoints(hold=60.0, clock=lambda: now[0], resolve=lambda endpoint: None)
    reads = Reads(DOWN)
    assert endpoints.observe("http://s3:9000", reads) is DOWN
    now[0] = 30.0
    spared = endpoints.observe("http://s3:9000", reads)
    assert reads.count == 1
    assert isinstance(spared.manifest, Unreachable)
    assert "http://s3:9000 did not answer 30 s ago" in spared.manifest.message
    assert "timed out" in spared.manifest.message
    assert endpoints.observe("http://other:9000", reads) is DOWN  # another endpoint is tried
    now[0] = 60.0
    endpoints.observe("http://s3:9000", reads)
    assert reads.count == 3
    assert endpoints.spared == 1


def test_an_answer_forgets_the_failure() -> None:
    now = [0.0]
    endpoints = UnansweredEndpoints(hold=60.0, clock=lambda: now[0], resolve=lambda endpoint: True)
    endpoints.observe("e", Reads(DOWN))
    now[0] = 61.0
    assert endpoints.observe("e", Reads(ANSWERED)) is ANSWERED  # an error that is an answer
    assert len(endpoints) == 0
    now[0] = 62.0
    reads = Reads(ANSWERED)
    endpoints.observe("e", reads)
    assert reads.count == 1


def test_the_failures_remembered_are_bounded() -> None:
    endpoints = UnansweredEndpoints(hold=60.0, max_endpoints=3, clock=lambda: 0.0,
                                    resolve=lambda endpoint: None)
    for i in range(10):
        endpoints.observe(f"e{i}", Reads(DOWN))
    assert len(endpoints) == 3
    reads = Reads(DOWN)
    endpoints.observe("e0", reads)  # forgotten: tried
    assert reads.count == 1


def test_a_name_that_does_not_resolve_is_not_read_first_or_after_hold() -> None:
    now = [0.0]
    answers: dict[str, bool | None] = {"http://gone.invalid:9000": False, "http://back:9000": True}
    endpoints = UnansweredEndpoints(hold=60.0, clock=lambda: now[0], resolve=answers.get)
    reads = Reads(DOWN)
    first = endpoints.observe("http://gone.invalid:9000", reads)  # looked up at first sight: no client
    assert reads.count == 0
    assert isinstance(first.manifest, Unreachable)
    assert first.manifest.message == "http://gone.invalid:9000: the host name does not resolve"
    endpoints.observe("http://back:9000", reads)  # resolves: read (and fails)
    assert reads.count == 1
    now[0] = 100.0
    spared = endpoints.observe("http://gone.invalid:9000", reads)
    assert reads.count == 1  # looked up again, not read
    assert isinstance(spared.manifest, Unreachable)
    assert "does not resolve" in spared.manifest.message
    endpoints.observe("http://back:9000", reads)  # resolves: read
    assert reads.count == 2


def test_a_name_is_looked_up_once_when_first_seen_and_again_only_after_a_failure() -> None:
    looked: list[str] = []

    def resolve(endpoint: str) -> bool | None:
        looked.append(endpoint)
        return True

    now = [0.0]
    endpoints = UnansweredEndpoints(hold=60.0, clock=lambda: now[0], resolve=resolve)
    for _ in range(3):
        endpoints.observe("http://fine:9000", Reads(ANSWERED))
    assert looked == ["http://fine:9000"]
    endpoints.observe("http://fine:9000", Reads(DOWN))
    now[0] = 100.0
    endpoints.observe("http://fine:9000", Reads(ANSWERED))
    assert looked == ["http://fine:9000"] * 2


def test_the_names_looked_up_are_bounded() -> None:
    looked: list[str] = []

    def resolve(endpoint: str) -> bool | None:
        looked.append(endpoint)
        return True

    endpoints = UnansweredEndpoints(hold=60.0, max_endpoints=2, clock=lambda: 0.0, resolve=resolve)
    for name in ("http://a:1", "http://b:1", "http://c:1", "http://a:1"):
        endpoints.observe(name, Reads(ANSWERED))
    assert looked == ["http://a:1", "http://b:1", "http://c:1", "http://a:1"]  # a was forgotten
