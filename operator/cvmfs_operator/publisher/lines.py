"""Split a child's output, read in arbitrary chunks, into bounded, printable text lines.

Pure: bytes in, :class:`Line` out; no I/O, no clock. Lines end at ``\\n`` or ``\\r`` (``\\r\\n``
yields an empty line, which the log skips). A line longer than ``max_bytes`` is cut: its first
``max_bytes`` are returned at once, marked ``cut``, and the rest up to the next line end is
dropped, so a child that never ends its line costs at most ``max_bytes`` of memory. Invalid UTF-8
and control characters (terminal escapes included) become U+FFFD.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

MAX_LINE_BYTES = 4096
_LINE_END = re.compile(rb"[\r\n]")
_CONTROLS = dict.fromkeys([*range(0x00, 0x09), *range(0x0A, 0x20), *range(0x7F, 0xA0)], "\ufffd")


@dataclass(frozen=True)
class Line:
    text: str
    cut: bool = False  # longer than the bound; the rest of it was dropped


def sanitize(text: str) -> str:
    """Control characters (except tab) become U+FFFD: no terminal escapes reach a log reader."""
    return text.translate(_CONTROLS)


def printable(raw: bytes, *, whole: bool = True) -> str:
    """Decode UTF-8, invalid bytes as U+FFFD; unless ``whole``, an incomplete last character is
    left out (a cut line ends on a character boundary, so a redactor sees whole characters)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return sanitize(decoder.decode(raw, final=whole))


class LineSplitter:
    def __init__(self, max_bytes: int = MAX_LINE_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self._pending = bytearray()  # never longer than max_bytes
        self._dropping = False  # inside a line that was cut, until its end

    def feed(self, data: bytes) -> list[Line]:
        """The lines that ``data`` completes (or cuts); an unfinished line is kept for later."""
        lines: list[Line] = []
        start = 0
        for match in _LINE_END.finditer(data):
            self._take(data, start, match.start(), lines)
            self._end_line(lines)
            start = match.end()
        self._take(data, start, len(data), lines)
        return lines

    def close(self) -> list[Line]:
        """End of output: the unfinished line, if any."""
        lines: list[Line] = []
        self._end_line(lines)
        self._dropping = False
        return [line for line in lines if line.text]

    def _take(self, data: bytes, start: int, end: int, lines: list[Line]) -> None:
        if self._dropping or start >= end:
            return
        room = self.max_bytes - len(self._pending)
        if end - start <= room:
            self._pending += data[start:end]
            return
        self._pending += data[start:start + room]
        lines.append(Line(printable(bytes(self._pending), whole=False), cut=True))
        self._pending.clear()
        self._dropping = True

    def _end_line(self, lines: list[Line]) -> None:
        if self._dropping:
            self._dropping = False
            return
        lines.append(Line(printable(bytes(self._pending))))
        self._pending.clear()
