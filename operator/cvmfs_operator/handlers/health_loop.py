"""The Repository health loop: one asyncio task, a schedule, and two small pools of threads.

kopf reports every Repository event to :meth:`HealthLoop.seen` (the latest body is kept); the
loop reads each Repository's Stratum 0 when the schedule (:mod:`reconcile.health_schedule`) says
so, in the thread pool of its lane: ``answering`` (``CVMFS_OPERATOR_HEALTH_CONCURRENCY`` threads)
or ``failing`` (half as many) for Repositories whose endpoint did not answer last time. So the
number of reads at once is bounded whatever the number of Repositories, an endpoint that hangs
until its timeout holds only a thread of the failing lane, and a Repository costs a dict entry
and a heap entry between reads, not a kopf timer (an asyncio task, a finalizer) per object.

A periodic pass (:meth:`HealthLoop.start`'s ``sweep``, once per health interval, jittered) sees
every Repository at once: it lists the publisher pods a single time for all of them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable, Mapping

from cvmfs_operator.api.types import Repository
from cvmfs_operator.reconcile.health_schedule import JITTER, LANES, Cadence, HealthSchedule, Lane

LOG = logging.getLogger(__name__)

Check = Callable[[Repository], bool]  # reads one Repository, writes its status; True: it answered
Sweep = Callable[[Mapping[str, Repository]], None]  # one pass over every Repository


class HealthLoop:
    def __init__(self, check: Check, sweep: Sweep, *, interval: float, max_interval: float,
                 threads: int, clock: Callable[[], float] = time.monotonic,
                 draw: Callable[[], float] = random.random) -> None:
        self._check = check
        self._sweep = sweep
        self._interval = interval
        self._clock = clock
        self._draw = draw
        self._bodies: dict[str, Repository] = {}
        self.schedule = HealthSchedule(Cadence(interval, max_interval), draw)
        self.limits: dict[Lane, int] = {"answering": max(1, threads), "failing": max(1, threads // 2)}
        self.running: dict[Lane, int] = dict.fromkeys(LANES, 0)
        self._pools = {lane: concurrent.futures.ThreadPoolExecutor(
            max_workers=self.limits[lane], thread_name_prefix=f"health-{lane}") for lane in LANES}
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def __len__(self) -> int:
        return len(self._bodies)

    # Fed by kopf's event handler (on the event loop)

    def seen(self, name: str, body: Repository) -> None:
        before = self._bodies.get(name)
        self._bodies[name] = body
        changed = before is not None and \
            before["metadata"].get("generation") != body["metadata"].get("generation")
        self.schedule.add(name, self._clock(), urgent=changed)
        self._poke()

    def forget(self, name: str) -> None:
        self._bodies.pop(name, None)
        self.schedule.forget(name)

    def look_soon(self, name: str) -> None:
        """Read a known Repository at once (from any thread): e.g. the pod creating it changed."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._urgent, name)

    def _urgent(self, name: str) -> None:
        if name in self._bodies:
            self.schedule.add(name, self._clock(), urgent=True)
            self._poke()

    # Running

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._tasks = [asyncio.create_task(self._dispatch(), name="health-dispatch"),
                       asyncio.create_task(self._sweeping(), name="health-sweep")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        while True:
            self._wake.clear()
            now = self._clock()
            for lane in LANES:
                for name in self.schedule.take(lane, now, self.limits[lane] - self.running[lane]):
                    self.running[lane] += 1
                    future = loop.run_in_executor(self._pools[lane], self._check, self._bodies[name])
                    future.add_done_callback(functools.partial(self._finished, name, lane))
            free = [lane for lane in LANES if self.running[lane] < self.limits[lane]]
            due = self.schedule.next_due(free)
            timeout = None if due is None else max(0.0, due - self._clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _finished(self, name: str, lane: Lane, future: asyncio.Future[bool]) -> None:
        self.running[lane] -= 1
        answered = True
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:  # a bug, not an unreachable endpoint: keep the normal cadence
            LOG.error("The health check of Repository %s failed", name, exc_info=error)
        else:
            answered = future.result()
        self.schedule.done(name, self._clock(), answered=answered)
        self._poke()

    async def _sweeping(self) -> None:
        while True:
            await asyncio.sleep(self._interval * (1.0 + JITTER * (2.0 * self._draw() - 1.0)))
            future = asyncio.ensure_future(asyncio.to_thread(self._sweep, dict(self._bodies)))
            await asyncio.wait({future})
            if future.exception() is not None:  # a bug: log it, and sweep again next time
                LOG.error("The sweep over the Repositories failed", exc_info=future.exception())
