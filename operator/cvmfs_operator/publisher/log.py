"""The publisher's log: lines to stderr (the pod log) and a bounded tail for the result.

Every line and every message passes through :meth:`Log.redact`, which replaces the secret values
the publisher has read (S3 keys, key-file contents) so they can never reach logs or results.
Each line is ``<UTC time, ms> <LEVEL> <message>``; levels: ``INFO``, ``ERROR``, ``OUT`` (a line a
child printed, stamped when it was read) and ``STEP`` (a step started or ended; pod log only —
the result reports the steps' durations itself).
"""

from __future__ import annotations

import collections
import sys
import time
from typing import TextIO

from cvmfs_operator.publisher.lines import Line, sanitize

TAIL_LINES = 40
MIN_SECRET_LENGTH = 4  # shorter "secrets" would redact ordinary words
MASK = "***"
CUT_MARK = " [rest of line dropped]"


def timestamp(at: float) -> str:
    seconds = int(at)
    millis = min(999, int((at - seconds) * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


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
                self._secrets.update((candidate, sanitize(candidate)))  # as child output shows it

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def redact_cut(self, text: str) -> str:
        """Redact a line that was cut: a secret's beginning at its very end is masked as well."""
        text = self.redact(text)
        overlap = max((size for secret in self._secrets
                       for size in range(1, min(len(secret), len(text) + 1))
                       if text.endswith(secret[:size])), default=0)
        return text[:len(text) - overlap] + MASK if overlap else text

    def info(self, message: str) -> None:
        self._emit("INFO", message)

    def error(self, message: str) -> None:
        self._emit("ERROR", message)

    def step(self, message: str) -> None:
        """A step's start or end: the pod log only (the result has ``step`` and ``durations``)."""
        self._emit("STEP", message, in_tail=False)

    def child(self, source: str, line: Line, at: float) -> str | None:
        """A line a child process printed, read at ``at``; returns it redacted, None if blank."""
        if not line.text.strip():
            return None
        text = self.redact_cut(line.text) + CUT_MARK if line.cut else self.redact(line.text)
        self._emit("OUT", f"{source}: {text}", at=at)
        return text

    def tail(self) -> list[str]:
        return list(self._tail)

    def _emit(self, level: str, message: str, *, at: float | None = None, in_tail: bool = True) -> None:
        line = self.redact(f"{level} {message}")
        if in_tail:
            self._tail.append(line)
        stamp = timestamp(time.time() if at is None else at)
        print(f"{stamp} {line}", file=self._stream, flush=True)
