"""A daemon's loop leaves no wake-up of its own behind: one asyncio.Event per Transaction (or
RepositoryOperation) ever driven would grow without bound in a long-running operator."""

from __future__ import annotations

import asyncio
import logging
import types
from typing import Any, cast

from cvmfs_operator.handlers.metrics import Metrics
from cvmfs_operator.handlers.runtime import Runtime, Wakeups, daemon_key
from cvmfs_operator.handlers.transactions import drive
from cvmfs_operator.reconcile import transaction as decisions


class Running:
    """What kopf hands a daemon: false until it is asked to stop."""

    def __bool__(self) -> bool:
        return False

    async def wait(self) -> None:
        await asyncio.Event().wait()


async def test_a_finished_daemon_leaves_no_event_for_its_own_key() -> None:
    rt = cast(Runtime, types.SimpleNamespace(wakeups=Wakeups(), metrics=Metrics()))
    rt.wakeups.bind(asyncio.get_running_loop())
    actions: list[decisions.Action] = [decisions.Wait(0.01), decisions.Wait(0.01), decisions.Done()]
    seen: list[bool] = []

    def step() -> decisions.Action:
        seen.append(daemon_key("u-1") in rt.wakeups)  # the daemon waits on its key meanwhile
        return actions.pop(0)

    await asyncio.wait_for(drive(rt, cast(Any, Running()), "repo.example.org", "u-1",
                                 logging.getLogger("test"), step), timeout=5)
    assert seen == [True, True, True]
    assert daemon_key("u-1") not in rt.wakeups
    assert "repo.example.org" in rt.wakeups  # the repository's is shared: bounded by repositories
