"""The publisher's log: lines to stderr (the pod log) and a bounded tail for the result.

Every line and every message passes through :meth:`Log.redact`, which replaces the secret values
the publisher has read (S3 keys, key-file contents) so they can never reach logs or results.
"""

from __future__ import annotations

import collections
import sys
import time
from typing import TextIO

TAIL_LINES = 40
MIN_SECRET_LENGTH = 4  # shorter "secrets" would redact ordinary words


class Log:
    def __init__(self, stream: TextIO = sys.stderr, tail_lines: int = TAIL_LINES) -> None:
        self._stream = stream
        self._tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        self._secrets: set[str] = set()

    def add_secret(self, value: str) -> None:
        """Register a secret value; it and each of its lines are redacted from now on."""
        for candidate in (value, *value.splitlines()):
            candidate = candidate.strip()
            if len(candidate) >= MIN_SECRET_LENGTH:
                self._secrets.add(candidate)

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def info(self, message: str) -> None:
        self._emit("INFO", message)

    def error(self, message: str) -> None:
        self._emit("ERROR", message)

    def output(self, source: str, text: str) -> None:
        """Lines printed by a child process (cvmfs_server, a script)."""
        for line in text.splitlines():
            if line.strip():
                self._emit("OUT", f"{source}: {line}")

    def tail(self) -> list[str]:
        return list(self._tail)

    def _emit(self, level: str, message: str) -> None:
        line = self.redact(f"{level} {message}")
        self._tail.append(line)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        print(f"{stamp} {line}", file=self._stream, flush=True)
