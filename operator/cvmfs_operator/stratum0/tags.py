"""Look up named tags in the tag (history) database (CVMFS.md "Verified" and §4.5).

The tag database is the object ``data/<H[:2]>/<H[2:]>H`` named by the manifest's ``H`` field: a
zlib-compressed SQLite file with the table ``tags(name, hash, revision, timestamp, channel,
description, size, branch)``. The decompressed bytes are opened as an in-memory database
(``sqlite3.Connection.deserialize``) where Python's SQLite can, else from a private temporary
file; nothing outlives the read.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from cvmfs_operator.stratum0.errors import CorruptObject

MAX_DECOMPRESSED_BYTES = 512 * 1024 * 1024  # a bomb guard; real tag databases are kilobytes to MBs
_COLUMNS = "name, hash, revision, timestamp, channel, description, size, branch"


@dataclass(frozen=True)
class TagInfo:
    name: str
    root_hash: str  # root catalog hash of the tagged revision
    revision: int
    timestamp: int  # Unix seconds
    description: str
    channel: int = 0
    size: int = 0
    branch: str = ""


def find_tag(database: bytes, name: str, object_name: str = "tag database") -> TagInfo | None:
    """The tag called ``name``, or None when the database has no such tag."""
    rows = _query(database, object_name, f"SELECT {_COLUMNS} FROM tags WHERE name = ?", (name,))
    return rows[0] if rows else None


def find_in(database: tuple[str, bytes] | None, name: str) -> TagInfo | None:
    """The tag ``name`` in a tag database as read, (object name, bytes); None when the repository
    has no tag database or the database no such tag."""
    return None if database is None else find_tag(database[1], name, database[0])


def list_tags(database: bytes, object_name: str = "tag database") -> tuple[TagInfo, ...]:
    """Every tag, sorted by name."""
    return tuple(_query(database, object_name, f"SELECT {_COLUMNS} FROM tags ORDER BY name", ()))


def decompress(data: bytes, object_name: str, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """zlib-inflate a ``data/`` object; :class:`CorruptObject` when it is not complete zlib data."""
    inflater = zlib.decompressobj()
    try:
        plain = inflater.decompress(data, limit)
    except zlib.error as error:
        raise CorruptObject(f"not zlib-compressed data ({error})", object_name=object_name) from None
    if inflater.unconsumed_tail:
        raise CorruptObject(f"decompresses to more than {limit} bytes", object_name=object_name)
    if not inflater.eof:
        raise CorruptObject("zlib stream is truncated", object_name=object_name)
    return plain


# Python's sqlite3 has ``deserialize`` only where SQLite was built with it (always since SQLite
# 3.36; the publisher image's AlmaLinux 9 ships 3.34): elsewhere a private temporary file.
IN_MEMORY = hasattr(sqlite3.Connection, "deserialize")


def _query(database: bytes, object_name: str, sql: str, params: tuple[str, ...],
           in_memory: bool = IN_MEMORY) -> list[TagInfo]:
    plain = decompress(database, object_name)
    with _open(plain, object_name, in_memory) as connection:
        try:
            rows = connection.execute(sql, params).fetchall()
        except sqlite3.Error as error:
            raise CorruptObject(f"not a cvmfs tag database ({error})", object_name=object_name) from None
    return [_row_to_tag(row, object_name) for row in rows]


@contextlib.contextmanager
def _open(plain: bytes, object_name: str, in_memory: bool) -> Iterator[sqlite3.Connection]:
    with contextlib.ExitStack() as stack:
        try:
            if in_memory:
                connection = sqlite3.connect(":memory:")
                stack.callback(connection.close)
                connection.deserialize(plain)
            else:
                directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="cvmfs-tags-"))
                path = os.path.join(directory, "history.db")
                with open(path, "wb") as handle:
                    handle.write(plain)
                connection = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
                stack.callback(connection.close)
        except (sqlite3.Error, OverflowError) as error:
            raise CorruptObject(f"cannot open as SQLite ({error})", object_name=object_name) from None
        yield connection


def _row_to_tag(row: tuple[object, ...], object_name: str) -> TagInfo:
    name, root_hash, revision, timestamp, channel, description, size, branch = row
    if not isinstance(name, str) or not isinstance(root_hash, str) or not isinstance(revision, int):
        raise CorruptObject(f"tag row {name!r} has wrong column types", object_name=object_name)
    return TagInfo(
        name=name,
        root_hash=root_hash,
        revision=revision,
        timestamp=timestamp if isinstance(timestamp, int) else 0,
        description=description if isinstance(description, str) else "",
        channel=channel if isinstance(channel, int) else 0,
        size=size if isinstance(size, int) else 0,
        branch=branch if isinstance(branch, str) else "",
    )
