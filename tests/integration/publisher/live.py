"""Reads a running publisher's stderr (its pod log) line by line while the test goes on."""

from __future__ import annotations

import calendar
import subprocess
import threading
import time

from cvmfs_operator.api import contract
from tests.integration.publisher.harness import Run, Stratum0, eventually


def stamp_seconds(line: str) -> float:
    """``2024-05-01T12:00:07.250Z INFO …`` -> seconds since the epoch."""
    stamp = line.split(" ", 1)[0]
    assert stamp.endswith("Z"), line
    whole, millis = stamp[:-1].split(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + int(millis) / 1000


class LiveLog:
    """The lines the publisher has written to stderr so far, collected by a reader thread."""

    def __init__(self, repo: Stratum0, process: subprocess.Popen[str]) -> None:
        self.repo = repo
        self.process = process
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._lock:
                self._lines.append(line.rstrip("\n"))

    @property
    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        """The first line containing ``text``, once the publisher has written it."""
        return eventually(lambda: next((line for line in self.lines if text in line), None),
                          f"{text!r} in the publisher's log", timeout)

    def stop(self) -> None:
        """After a failed test: SIGTERM (the publisher stops its child and aborts), then SIGKILL."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def finish(self, timeout: float = 30.0) -> Run:
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        assert self.process.stdout is not None
        stdout = self.process.stdout.read()
        self.process.stdout.close()
        assert self.process.stderr is not None
        self.process.stderr.close()
        raw = self.repo.result_path.read_bytes()
        assert len(raw) < contract.RESULT_MAX_BYTES
        return Run(self.process.returncode, stdout, "\n".join(self.lines) + "\n",
                   dict(contract.decode_result(raw)))
