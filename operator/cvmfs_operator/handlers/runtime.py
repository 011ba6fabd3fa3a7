"""What handlers share: settings, the Kubernetes client, metrics and per-repository wake-ups."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import prometheus_client

from cvmfs_operator.clients.kube import KubeClient
from cvmfs_operator.settings import Settings

Logger = logging.Logger | logging.LoggerAdapter[Any]  # what kopf hands to handlers


class Metrics:
    """Prometheus metrics, in a registry of their own so tests and the demo can run several."""

    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        self.finished = prometheus_client.Counter(
            "cvmfs_operator_transactions_finished_total", "Transactions that reached a final phase",
            ["repository", "phase", "reason"], registry=self.registry)
        self.publish_seconds = prometheus_client.Histogram(
            "cvmfs_operator_publish_duration_seconds", "From publisher pod start to recorded result",
            ["repository"], registry=self.registry,
            buckets=(10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400))
        self.queue_length = prometheus_client.Gauge(
            "cvmfs_operator_queue_length", "Transactions waiting for a repository",
            ["repository"], registry=self.registry)
        self.pods_started = prometheus_client.Counter(
            "cvmfs_operator_publisher_pods_started_total", "Publisher pods created",
            ["repository"], registry=self.registry)
        self.api_errors = prometheus_client.Counter(
            "cvmfs_operator_api_errors_total", "Failed calls to the Kubernetes API or Stratum 0",
            ["kind"], registry=self.registry)


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


@dataclass
class Runtime:
    settings: Settings
    kube: KubeClient
    metrics: Metrics = field(default_factory=Metrics)
    wakeups: Wakeups = field(default_factory=Wakeups)
