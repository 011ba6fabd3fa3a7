"""The health schedule: jittered cadence, backoff for unreachable endpoints, lanes, bounded state."""

from __future__ import annotations

import itertools

import pytest

from cvmfs_operator.reconcile.health_schedule import Cadence, HealthSchedule

CADENCE = Cadence(interval=60.0, max_interval=600.0)


def draws(*values: float) -> itertools.cycle[float]:
    return itertools.cycle(values)


def schedule(*values: float) -> HealthSchedule:
    source = draws(*(values or (0.5,)))
    return HealthSchedule(CADENCE, lambda: next(source))


@pytest.mark.parametrize(("failures", "draw", "delay"), [
    (0, 0.5, 60.0), (0, 0.0, 54.0), (0, 0.999999, 66.0),  # ± 10 %
    (1, 0.5, 120.0), (2, 0.5, 240.0), (3, 0.5, 480.0),  # doubling per failure
    (4, 0.5, 600.0), (50, 0.5, 600.0), (50, 0.0, 540.0),  # capped, still jittered
])
def test_cadence(failures: int, draw: float, delay: float) -> None:
    assert CADENCE.delay(failures, draw) == pytest.approx(delay)


def test_a_cap_below_the_interval_never_shortens_it() -> None:
    assert Cadence(interval=60.0, max_interval=10.0).delay(3, 0.5) == 60.0


def test_a_new_repository_is_due_at_once_and_read_again_after_the_interval() -> None:
    s = schedule()
    s.add("a", now=100.0)
    assert s.next_due() == 100.0
    assert s.take("answering", 100.0, limit=8) == ["a"]
    assert s.next_due() is None  # in flight: not waiting
    assert s.take("answering", 100.0, limit=8) == []
    assert s.done("a", 101.0, answered=True) == 60.0
    assert s.next_due() == 161.0
    assert s.take("answering", 160.0, limit=8) == []
    assert s.take("answering", 161.0, limit=8) == ["a"]


def test_jitter_spreads_repositories_created_together() -> None:
    s = schedule(0.0, 0.25, 0.5, 0.75)
    for name in "abcd":
        s.add(name, now=0.0)
    for name in s.take("answering", 0.0, limit=10):
        s.done(name, 0.0, answered=True)
    dues = []
    while (due := s.next_due()) is not None:
        dues.append(due)
        s.take("answering", due, limit=1)
    assert dues == pytest.approx([54.0, 57.0, 60.0, 63.0])


def test_an_unreachable_repository_backs_off_in_the_failing_lane_and_recovers() -> None:
    s = schedule()
    s.add("down", now=0.0)
    s.take("answering", 0.0, limit=1)
    assert s.done("down", 0.0, answered=False) == 120.0
    assert s.take("answering", 1000.0, limit=8) == []  # not in the answering lane any more
    assert s.take("failing", 119.0, limit=8) == []
    assert s.take("failing", 120.0, limit=8) == ["down"]
    assert s.done("down", 120.0, answered=False) == 240.0
    assert s.failures("down") == 2
    s.take("failing", 360.0, limit=8)
    assert s.done("down", 360.0, answered=True) == 60.0  # answered: back to the normal cadence
    assert s.failures("down") == 0
    assert s.take("answering", 420.0, limit=8) == ["down"]


def test_take_is_bounded_and_leaves_the_rest_due() -> None:
    s = schedule()
    for i in range(5):
        s.add(f"r{i}", now=0.0)
    assert len(s.take("answering", 0.0, limit=2)) == 2
    assert s.next_due() == 0.0
    assert len(s.take("answering", 0.0, limit=10)) == 3
    assert s.take("answering", 0.0, limit=0) == []


def test_a_lane_without_free_threads_does_not_count_as_due() -> None:
    s = schedule()
    s.add("ok", now=0.0)
    s.add("down", now=0.0)
    s.take("answering", 0.0, limit=1)
    s.take("answering", 0.0, limit=1)
    s.done("down", 0.0, answered=False)
    s.done("ok", 0.0, answered=True)
    assert s.next_due(["answering"]) == 60.0
    assert s.next_due(["failing"]) == 120.0
    assert s.next_due([]) is None


def test_a_changed_spec_is_read_at_once_even_while_being_read() -> None:
    s = schedule()
    s.add("a", now=0.0)
    s.take("answering", 0.0, limit=1)
    s.done("a", 0.0, answered=True)
    s.add("a", now=10.0)  # seen again, unchanged: keeps its time
    assert s.next_due() == 60.0
    s.add("a", now=10.0, urgent=True)
    assert s.next_due() == 10.0
    assert s.take("answering", 10.0, limit=1) == ["a"]
    s.add("a", now=11.0, urgent=True)  # changed while being read: again right after
    assert s.done("a", 12.0, answered=True) == 0.0
    assert s.take("answering", 12.0, limit=8) == ["a"]


def test_a_deleted_repository_is_not_read_again() -> None:
    s = schedule()
    s.add("a", now=0.0)
    s.add("b", now=0.0)
    s.forget("a")
    assert s.take("answering", 0.0, limit=8) == ["b"]
    s.forget("b")  # while being read
    assert s.done("b", 1.0, answered=True) is None
    assert len(s) == 0
    assert s.next_due() is None


def test_state_stays_bounded_by_the_repositories_that_exist() -> None:
    s = schedule()
    for i in range(100):
        s.add(f"r{i}", now=0.0)
    for step in range(1000):  # every spec changing over and over leaves superseded heap entries
        s.add(f"r{step % 100}", now=float(step), urgent=True)
    assert s.heap_size() <= 2 * len(s) + 64
    for i in range(100):
        s.forget(f"r{i}")
    s.add("last", now=0.0)
    assert len(s) == 1
    assert s.heap_size() <= 2 * len(s) + 64
