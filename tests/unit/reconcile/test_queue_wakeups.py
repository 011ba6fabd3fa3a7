"""Who looks again when one leaves a repository's queue: the next two waiting, never the whole queue."""

from __future__ import annotations

from dataclasses import dataclass, field

from cvmfs_operator.reconcile import queueing
from cvmfs_operator.reconcile.observed import QueueEntry


def entry(name: str, second: int, *, queued: bool = True, operation: bool = False) -> QueueEntry:
    return QueueEntry(f"2026-12-02T03:00:{second:02d}Z", "team", name, f"u-{name}", queued=queued,
                      operation=operation)


@dataclass
class View:
    me: str
    queue: list[QueueEntry] = field(default_factory=list)
    lock_holder: str | None = None
    holder_alive: bool = True
    lock_age: float | None = None
    stale_lock_seconds: float = 60.0
    reconcile_interval: float = 10.0


# Created in this order: a (holds the lock, Running), b, c (an operation), p (Pending on its
# Repository: it could not use the lock), d, e; listed out of order.
A, B, C, P, D, E = (entry("a", 1, queued=False), entry("b", 2), entry("c", 3, operation=True),
                    entry("p", 4, queued=False), entry("d", 5), entry("e", 6))
QUEUE = [E, D, P, C, B, A]


def uids(entries: list[QueueEntry]) -> list[str]:
    return [e.uid for e in entries]


def test_the_holder_leaving_concerns_its_successor_and_the_one_behind_it() -> None:
    view = View(me=A.holder, queue=QUEUE, lock_holder=A.holder)
    assert uids(queueing.concerned_by_departure(view)) == ["u-b", "u-c"]
    assert queueing.successor(view) == B.holder
    # Once the lock is handed to b, c is next in line: woken again to show position 1.
    assert uids(queueing.next_after_hand_over(view)) == ["u-c"]


def test_a_waiter_leaving_concerns_the_first_two_still_waiting() -> None:
    view = View(me=C.holder, queue=QUEUE, lock_holder=A.holder)
    assert uids(queueing.concerned_by_departure(view)) == ["u-b", "u-d"]  # p is Pending, not waiting


def test_a_short_queue_wakes_whoever_is_there() -> None:
    assert uids(queueing.concerned_by_departure(View(me=A.holder, queue=[A, B]))) == ["u-b"]
    assert queueing.next_after_hand_over(View(me=A.holder, queue=[A, B])) == []
    assert queueing.concerned_by_departure(View(me=A.holder, queue=[A])) == []
    assert queueing.successor(View(me=A.holder, queue=[A, P])) is None


def test_a_long_queue_wakes_two_whatever_its_length() -> None:
    queue = [entry(f"w{i}", i % 60) for i in range(1000)]
    view = View(me=queue[0].holder, queue=queue, lock_holder=queue[0].holder)
    assert len(queueing.concerned_by_departure(view)) == 2
