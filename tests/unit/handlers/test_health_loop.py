"""The health loop: every Repository read on its cadence, a bounded number at once, the unreachable
ones less often and in their own lane, deleted ones never again."""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Mapping
from typing import Any, cast

from cvmfs_operator.api.types import Repository
from cvmfs_operator.handlers.health_loop import HealthLoop


def repo(name: str, generation: int = 1) -> Repository:
    return cast(Repository, {"metadata": {"name": name, "generation": generation}})


class Checks:
    def __init__(self, down: set[str], slow: float = 0.0) -> None:
        self.down = down
        self.slow = slow
        self.reads: collections.Counter[str] = collections.Counter()
        self.running = 0
        self.most = 0
        self.guard = threading.Lock()

    def __call__(self, body: Repository) -> bool:
        name = body["metadata"]["name"]
        with self.guard:
            self.reads[name] += 1
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.slow if name in self.down else 0.001)
        with self.guard:
            self.running -= 1
        return name not in self.down


async def run_for(loop: HealthLoop, seconds: float) -> None:
    loop.start()
    try:
        await asyncio.sleep(seconds)
    finally:
        await loop.stop()


async def test_reads_are_bounded_and_unreachable_ones_back_off() -> None:
    checks = Checks(down={"down"})
    swept: list[Mapping[str, Any]] = []
    loop = HealthLoop(checks, swept.append, interval=0.1, max_interval=0.4, threads=2)
    for name in ("a", "b", "c", "d", "down"):
        loop.seen(name, repo(name))
    await run_for(loop, 1.2)
    assert checks.most <= 3  # 2 answering + 1 failing
    assert min(checks.reads[n] for n in "abcd") >= 5  # every ~0.1 s
    assert 2 <= checks.reads["down"] <= 5  # 0, 0.2, 0.6, 1.0: doubling up to 0.4
    assert loop.schedule.failures("down") >= 2
    assert swept
    assert set(swept[-1]) == {"a", "b", "c", "d", "down"}


async def test_hanging_endpoints_do_not_hold_up_the_others() -> None:
    checks = Checks(down={"hang1", "hang2", "hang3"}, slow=0.3)
    loop = HealthLoop(checks, lambda repos: None, interval=0.1, max_interval=0.1, threads=2)
    for name in ("hang1", "hang2", "hang3", "ok"):
        loop.seen(name, repo(name))
    await run_for(loop, 1.5)
    # Only the first reads share the answering lane; then the hanging ones have a thread of their own.
    assert checks.reads["ok"] >= 6
    assert checks.most <= 3


async def test_a_deleted_repository_is_not_read_again_and_a_changed_one_at_once() -> None:
    checks = Checks(down=set())
    loop = HealthLoop(checks, lambda repos: None, interval=10.0, max_interval=10.0, threads=2)
    loop.seen("gone", repo("gone"))
    loop.seen("kept", repo("kept"))
    loop.start()
    try:
        await asyncio.sleep(0.2)
        assert checks.reads == {"gone": 1, "kept": 1}
        loop.forget("gone")
        loop.seen("kept", repo("kept"))  # the same generation: not read again before its time
        await asyncio.sleep(0.2)
        assert checks.reads["kept"] == 1
        loop.seen("kept", repo("kept", generation=2))  # the spec changed: read at once
        await asyncio.sleep(0.2)
        assert checks.reads == {"gone": 1, "kept": 2}
        assert len(loop) == 1
    finally:
        await loop.stop()
