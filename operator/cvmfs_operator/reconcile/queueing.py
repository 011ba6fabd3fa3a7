"""The repository's lock and FIFO queue, as Transactions and RepositoryOperations both see them.

One queue per repository holds both kinds (ordered by creation time); one Lease is its lock. These
pure pieces decide, for either kind, where it stands, whether it takes or breaks the lock, who is
next when it releases it, how long it waits, and when its written queue position must change.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from cvmfs_operator.api.phases import Phase
from cvmfs_operator.reconcile.actions import AcquireLock, Action, BreakLock, Wait
from cvmfs_operator.reconcile.observed import QueueEntry

QUEUED_BACKOFF = 6.0  # queued behind a live holder: re-check this many intervals apart,
QUEUED_SAFETY_NET = 30.0  # and at least this many seconds (wake-ups do the work, see queued_wait)


class LockView(Protocol):
    """What the queue decisions read of an observation (either kind's)."""

    @property
    def lock_holder(self) -> str | None: ...
    @property
    def holder_alive(self) -> bool: ...
    @property
    def lock_age(self) -> float | None: ...
    @property
    def stale_lock_seconds(self) -> float: ...
    @property
    def queue(self) -> Sequence[QueueEntry]: ...
    @property
    def reconcile_interval(self) -> float: ...
    @property
    def me(self) -> str: ...


def queue_position(view: LockView) -> int | None:
    """1 for the next to take the lock; None when not (yet) in this replica's queue index."""
    ahead = 0
    for entry in sorted(view.queue, key=lambda e: e.sort_key()):
        if entry.holder == view.me:
            return ahead + 1
        if entry.holder != view.lock_holder:
            ahead += 1
    return None


def queue_step(view: LockView) -> Action | int:
    """Look again, take the free lock or break a dead holder's stale one; otherwise the position
    to show while staying queued."""
    position = queue_position(view)
    if position is None:  # not yet in this replica's queue index; look again shortly
        return Wait(min(1.0, view.reconcile_interval))
    if position == 1 and view.lock_holder is None:
        return AcquireLock()
    if position == 1 and view.lock_holder is not None and not view.holder_alive \
            and (view.lock_age or 0.0) > view.stale_lock_seconds:
        return BreakLock(view.lock_holder)
    return position


def next_in_line(view: LockView, count: int) -> list[QueueEntry]:
    """The first ``count`` waiting for the lock, in queue order (FIFO, either kind), this one
    excluded: Queued ones only, not one held Pending by its Repository, which could not use it."""
    waiting = (entry for entry in sorted(view.queue, key=lambda e: e.sort_key())
               if entry.holder != view.me and entry.queued)
    return list(itertools.islice(waiting, count))


def successor(view: LockView) -> str | None:
    """The holder identity of the next in the queue, if one waits for the lock."""
    following = next_in_line(view, 1)
    return following[0].holder if following else None


def concerned_by_departure(view: LockView) -> list[QueueEntry]:
    """Who must look again when this one leaves the queue (final, or deleted): the next to take
    the lock (it takes a free one, or waits to be handed it) and the one after it (next in line
    once the lock has moved on: its written position becomes 1). Everyone further back only moves
    closer, which the position they show already allows (an upper bound, :func:`position_stale`):
    waking them all would cost one step per waiting object per hand-over, quadratic in the queue."""
    return next_in_line(view, 2)


def next_after_hand_over(view: LockView) -> list[QueueEntry]:
    """Who must look again once this holder has handed the lock to its successor: the one behind
    the successor, now next in line (the successor itself is woken by the Lease watch)."""
    return next_in_line(view, 2)[1:]


def queued_wait(view: LockView) -> float:
    """How long a queued one waits before looking again.

    Behind a live holder, the lock's hand-over or release (seen by the Lease watch, whichever
    process did it) and a member ahead becoming final (:func:`concerned_by_departure`) wake the
    waiters concerned, so the periodic look is only a safety net (a watch down, a lost wake-up)
    and can be slow. With the lock free
    but others ahead (or a queue index that has not caught up), look again soon.
    """
    if view.lock_holder is not None and view.holder_alive:
        return max(view.reconcile_interval * QUEUED_BACKOFF, QUEUED_SAFETY_NET)
    return min(1.0, view.reconcile_interval)


def position_stale(obj: Mapping[str, Any], phase: Phase, position: int) -> bool:
    """Whether the object's written queue position must be rewritten.

    Positions only shrink while it waits, so the one written when it joined the queue stays a true
    upper bound. It is rewritten once more when it is next (position 1), never on every hand-over:
    at most two writes per queued object instead of one per object ahead of it (quadratic over a
    queue). ``kubectl cvmfs list`` computes exact positions.
    """
    current = obj.get("status") or {}
    shown = current.get("queuePosition")
    if phase is not Phase.QUEUED or current.get("reason") != "Queued" or not isinstance(shown, int):
        return True
    if current.get("observedGeneration") != obj["metadata"].get("generation"):
        return True
    if position > shown:
        return True  # an earlier one came into view: the bound must hold
    return position == 1 and shown != 1
