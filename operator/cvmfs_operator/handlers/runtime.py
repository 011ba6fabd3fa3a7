"""What handlers share: settings, the Kubernetes client, metrics and per-repository wake-ups."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cvmfs_operator.clients.cached import Caches
from cvmfs_operator.clients.kube import KubeClient
from cvmfs_operator.handlers.handover import HandedViews
from cvmfs_operator.handlers.metrics import Metrics
from cvmfs_operator.handlers.secrets import SecretCache
from cvmfs_operator.settings import Settings

Logger = logging.Logger | logging.LoggerAdapter[Any]  # what kopf hands to handlers

__all__ = ["Logger", "Metrics", "Runtime", "Wakeups", "daemon_key"]


def daemon_key(uid: str) -> str:
    """The wake-up key of one Transaction's or RepositoryOperation's daemon (repository names,
    the other keys, contain no ':')."""
    return f"transaction:{uid}"


class Wakeups:
    """Wake Transactions waiting on a repository when its lock is released (an optimisation only:
    correctness comes from the Lease and the periodic re-check)."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guard = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def event(self, repository: str) -> asyncio.Event:
        with self._guard:
            return self._events.setdefault(repository, asyncio.Event())

    def notify(self, repository: str) -> None:
        """Callable from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with self._guard:
            event = self._events.pop(repository, None)
        if event is not None:
            loop.call_soon_threadsafe(event.set)

    def notify_daemons(self, uids: Iterable[str]) -> None:
        """Wake these Transactions' or RepositoryOperations' daemons only (callable from any thread)."""
        for uid in uids:
            self.notify(daemon_key(uid))

    def discard(self, key: str) -> None:
        """Forget ``key``'s event without waking anyone: its only waiter is done (a Transaction's
        own key, when its daemon ends; kept, it would be an entry per Transaction ever seen)."""
        with self._guard:
            self._events.pop(key, None)

    def __contains__(self, key: str) -> bool:
        with self._guard:
            return key in self._events

    def notify_all(self) -> None:
        """Wake every waiter (a watch was interrupted: a release may have gone unseen)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with self._guard:
            events, self._events = list(self._events.values()), {}
        for event in events:
            loop.call_soon_threadsafe(event.set)


@dataclass
class Runtime:
    settings: Settings
    kube: KubeClient
    metrics: Metrics = field(default_factory=Metrics)
    wakeups: Wakeups = field(default_factory=Wakeups)
    caches: Caches = field(default_factory=Caches)  # what the watches and our own writes tell
    secrets: SecretCache = field(default_factory=SecretCache)
    handed: HandedViews = field(default_factory=HandedViews)  # repository reads handed on with the lock
