"""The common shape of ``.cvmfspublished`` and ``.cvmfswhitelist``: text lines up to a ``--`` line.

After ``--`` come a hex hash line and raw signature bytes, which are never decoded here (the
operator does not verify signatures; clients and ``cvmfs_server`` do).
"""

from __future__ import annotations

from dataclasses import dataclass

from cvmfs_operator.stratum0.errors import CorruptObject

SEPARATOR = b"--"


@dataclass(frozen=True)
class Line:
    number: int  # 1-based
    text: str


def header_lines(data: bytes, object_name: str) -> list[Line]:
    """The lines before the ``--`` line, decoded as ASCII; empty lines are skipped like cvmfs does.

    Raises :class:`CorruptObject` when the object is empty, has no ``--`` line (truncated, or not a
    signed CernVM-FS object) or has a non-ASCII header line.
    """
    if not data:
        raise CorruptObject("object is empty", object_name=object_name)
    lines: list[Line] = []
    rest = data
    number = 0
    while rest:
        number += 1
        raw, newline, rest = rest.partition(b"\n")
        if not newline:
            break  # the last line has no newline: cvmfs ignores it too, and it is not "--\n"
        if raw == SEPARATOR:
            return lines
        if not raw:
            continue
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            raise CorruptObject("header line is not ASCII text", object_name=object_name,
                                line=number) from None
        lines.append(Line(number, text.rstrip("\r")))
    raise CorruptObject("no '--' line ends the header (truncated, or not a signed cvmfs object)",
                        object_name=object_name)
