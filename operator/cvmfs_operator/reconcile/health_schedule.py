"""When each Repository's Stratum 0 is read next (pure: the clock and the random source are passed in).

A Repository whose last read answered is read again after ``interval`` ± ``jitter`` (10 %), so
thousands created at once drift apart instead of reading in lock-step. One whose endpoint did not
answer ``n`` times in a row waits ``interval * 2**n`` (jittered), at most ``max_interval``, and is
read in the ``failing`` lane: the health loop gives each lane its own bounded number of threads,
so endpoints that hang until their timeout never hold up the reads of those that answer.

A Repository is in at most one place: waiting in its lane's heap, or being read (in flight).
Superseded heap entries are skipped when they come up and the heap is compacted when they pile
up, so nothing here grows beyond the number of Repositories that exist.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

Lane = Literal["answering", "failing"]
LANES: tuple[Lane, ...] = ("answering", "failing")
JITTER = 0.1


@dataclass(frozen=True)
class Cadence:
    interval: float  # seconds between reads of a Repository that answers
    max_interval: float  # the longest wait after failures in a row
    jitter: float = JITTER  # ± this fraction of every wait

    def delay(self, failures: int, draw: float) -> float:
        """The wait before the next read after ``failures`` unanswered reads in a row; ``draw`` is
        uniform in [0, 1)."""
        base = self.interval * 2.0 ** min(failures, 32) if failures else self.interval
        base = min(base, max(self.max_interval, self.interval))
        return base * (1.0 + self.jitter * (2.0 * draw - 1.0))


@dataclass
class _Entry:
    token: int  # the heap entry that is current; older ones are skipped
    failures: int = 0
    in_flight: bool = False
    again: bool = False  # changed while being read: read it again at once

    @property
    def lane(self) -> Lane:
        return "failing" if self.failures else "answering"


class HealthSchedule:
    def __init__(self, cadence: Cadence, draw: Callable[[], float]) -> None:
        self.cadence = cadence
        self._draw = draw
        self._entries: dict[str, _Entry] = {}
        self._heaps: dict[Lane, list[tuple[float, int, str]]] = {lane: [] for lane in LANES}
        self._tokens = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def failures(self, name: str) -> int:
        entry = self._entries.get(name)
        return entry.failures if entry else 0

    def heap_size(self) -> int:
        return sum(len(heap) for heap in self._heaps.values())

    def add(self, name: str, now: float, *, urgent: bool = False) -> None:
        """A Repository seen: a new one is read at ``now``; a known one only when ``urgent`` (its
        spec changed), at once or, if being read, right after that read."""
        entry = self._entries.get(name)
        if entry is None:
            self._entries[name] = entry = _Entry(token=-1)
        elif not urgent:
            return
        if entry.in_flight:
            entry.again = True
        else:
            self._push(name, entry, now)

    def forget(self, name: str) -> None:
        """A deleted Repository: its heap entry is skipped when it comes up."""
        self._entries.pop(name, None)

    def next_due(self, lanes: Iterable[Lane] = LANES) -> float | None:
        """When the earliest waiting Repository of ``lanes`` is due (None: none waits)."""
        dues = [self._peek(lane) for lane in lanes]
        return min((due for due in dues if due is not None), default=None)

    def take(self, lane: Lane, now: float, limit: int) -> list[str]:
        """Up to ``limit`` Repositories of ``lane`` that are due at ``now``, now in flight."""
        heap, taken = self._heaps[lane], list[str]()
        while len(taken) < limit:
            due = self._peek(lane)
            if due is None or due > now:
                break
            _, _, name = heapq.heappop(heap)
            self._entries[name].in_flight = True
            taken.append(name)
        return taken

    def done(self, name: str, now: float, *, answered: bool) -> float | None:
        """A read finished; returns the wait until the next one (None: the Repository is gone)."""
        entry = self._entries.get(name)
        if entry is None:
            return None
        entry.in_flight = False
        entry.failures = 0 if answered else entry.failures + 1
        delay = 0.0 if entry.again else self.cadence.delay(entry.failures, self._draw())
        entry.again = False
        self._push(name, entry, now + delay)
        return delay

    def _push(self, name: str, entry: _Entry, due: float) -> None:
        entry.token = next(self._tokens)
        heapq.heappush(self._heaps[entry.lane], (due, entry.token, name))
        if self.heap_size() > 2 * len(self._entries) + 64:
            self._compact()

    def _peek(self, lane: Lane) -> float | None:
        heap = self._heaps[lane]
        while heap:
            due, token, name = heap[0]
            entry = self._entries.get(name)
            if entry is not None and entry.token == token and not entry.in_flight:
                return due
            heapq.heappop(heap)  # superseded, forgotten or already taken
        return None

    def _compact(self) -> None:
        for lane, heap in self._heaps.items():
            live = [item for item in heap
                    if (entry := self._entries.get(item[2])) is not None and entry.token == item[1]]
            heapq.heapify(live)
            self._heaps[lane] = live
