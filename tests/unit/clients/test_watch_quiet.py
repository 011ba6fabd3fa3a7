"""A watch that a real API server ends after its timeout without a single event (an idle
namespace) is a normal end, watched again at once from the same version; one that ends at once
without an event is broken and backed off (found running against kube-apiserver 1.28.7, where the
idle operator logged "The publisher pod watch broke (ValueError)" every 5 minutes)."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pytest

from cvmfs_operator.clients.watch import Watcher


class _Response:
    def __init__(self, payload: bytes, stays_open: float) -> None:
        self.data = payload
        self._chunks = [payload] if payload else []
        self._stays_open = stays_open

    def read1(self, _: int) -> bytes:
        if self._chunks:
            return self._chunks.pop(0)
        time.sleep(self._stays_open)  # the server's timeout_seconds, shortened
        return b""

    def release_conn(self) -> None:
        pass


class _Server:
    """Answers the list with one pod at version 7, and every watch with no event at all."""

    def __init__(self, stays_open: float) -> None:
        self.watches: list[tuple[float, str | None]] = []
        self._stays_open = stays_open
        self.lock = threading.Lock()

    def __call__(self, namespace: str, **kwargs: Any) -> _Response:
        if kwargs.get("watch"):
            with self.lock:
                self.watches.append((time.monotonic(), kwargs.get("resource_version")))
            return _Response(b"", self._stays_open)
        pod = {"metadata": {"name": "p", "namespace": namespace, "resourceVersion": "7",
                            "labels": {"app": "x"}}}
        return _Response(json.dumps({"items": [pod], "metadata": {"resourceVersion": "7"}}).encode(), 0)


def _run(server: _Server, seconds: float) -> None:
    watcher = Watcher(server, "ns", {"app": "x"}, lambda *_: None, "test pod", quiet_end=0.2)
    watcher.start()
    time.sleep(seconds)
    watcher.stop()


def test_a_quiet_watch_that_ran_its_course_is_watched_again_at_once(caplog: pytest.LogCaptureFixture) -> None:
    server = _Server(stays_open=0.3)
    with caplog.at_level(logging.WARNING):
        _run(server, 1.5)
    assert len(server.watches) >= 4  # back to back, ~0.3 s each: no back-off
    assert {version for _, version in server.watches} == {"7"}  # from the listed version
    assert "broke" not in caplog.text


def test_a_watch_that_ends_at_once_without_an_event_is_backed_off(caplog: pytest.LogCaptureFixture) -> None:
    server = _Server(stays_open=0.0)
    with caplog.at_level(logging.WARNING):
        _run(server, 1.2)
    assert 2 <= len(server.watches) <= 3  # 0.5 s, then 1 s apart: not a hot loop
    assert "The test pod watch broke (ValueError)" in caplog.text
