"""Parse ``.cvmfspublished``, the signed manifest naming the current revision (CVMFS.md §4.2).

One field per line, key = first character, value = the rest, until a ``--`` line. Required keys
(as in cvmfs ``Manifest::Load``): ``C`` root catalog hash, ``R`` root path MD5, ``D`` TTL, ``S``
revision. Everything else is optional; unknown keys are kept in ``fields``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from cvmfs_operator.stratum0.errors import CorruptObject
from cvmfs_operator.stratum0.signed_text import Line, header_lines

MANIFEST = ".cvmfspublished"

# 40 hex digits (SHA-1, RIPEMD-160, SHAKE-128 are all 20 bytes) plus an optional algorithm id.
_CONTENT_HASH = re.compile(r"[0-9a-f]{40}(-rmd160|-shake128)?")
_MD5 = re.compile(r"[0-9a-f]{32}")
_UNSIGNED = re.compile(r"[0-9]{1,20}")
_REQUIRED = {"C": "root catalog hash", "R": "root path hash", "D": "TTL", "S": "revision"}


@dataclass(frozen=True)
class Manifest:
    revision: int  # S
    root_hash: str  # C, without the "C" type suffix
    ttl_seconds: int  # D
    timestamp: int | None  # T, Unix seconds of the publish
    tag_db_hash: str | None  # H, object data/<H[:2]>/<H[2:]>H
    reflog_hash: str | None  # Y, content hash of .cvmfsreflog
    certificate_hash: str | None  # X
    metainfo_hash: str | None  # M
    name: str | None  # N, the FQRN
    garbage_collectable: bool  # G
    root_catalog_size: int | None  # B
    fields: Mapping[str, str]  # every key -> value as read (the last one wins, like cvmfs)

    @property
    def hash_algorithm(self) -> str:
        """``sha1``, ``rmd160`` or ``shake128``, from the root hash's algorithm id."""
        _, dash, algorithm = self.root_hash.partition("-")
        return algorithm if dash else "sha1"


def parse_manifest(data: bytes, object_name: str = MANIFEST) -> Manifest:
    """Parse the manifest bytes; raise :class:`CorruptObject` naming the line or field at fault."""
    fields: dict[str, str] = {}
    lines: dict[str, Line] = {}
    for line in header_lines(data, object_name):
        fields[line.text[0]] = line.text[1:]
        lines[line.text[0]] = line
    for key, meaning in _REQUIRED.items():
        if key not in fields:
            raise CorruptObject(f"required field {key} ({meaning}) is missing", object_name=object_name)
    parser = _FieldParser(fields, lines, object_name)
    parser.check("R", _MD5, "an MD5 hex digest")
    return Manifest(
        revision=parser.unsigned("S", "revision"),
        root_hash=parser.content_hash("C", "root catalog hash"),
        ttl_seconds=parser.unsigned("D", "TTL"),
        timestamp=parser.optional_unsigned("T", "timestamp"),
        tag_db_hash=parser.optional_hash("H", "tag database hash"),
        reflog_hash=parser.optional_hash("Y", "reflog hash"),
        certificate_hash=parser.optional_hash("X", "certificate hash"),
        metainfo_hash=parser.optional_hash("M", "meta-info hash"),
        name=fields.get("N") or None,
        garbage_collectable=parser.yes_no("G", "garbage-collection flag"),
        root_catalog_size=parser.optional_unsigned("B", "root catalog size"),
        fields=dict(fields),
    )


class _FieldParser:
    def __init__(self, fields: Mapping[str, str], lines: Mapping[str, Line], object_name: str) -> None:
        self._fields = fields
        self._lines = lines
        self._object = object_name

    def _fail(self, key: str, problem: str) -> CorruptObject:
        return CorruptObject(f"field {key} {problem}: {self._fields[key]!r}",
                             object_name=self._object, line=self._lines[key].number)

    def check(self, key: str, pattern: re.Pattern[str], what: str) -> str:
        value = self._fields[key]
        if not pattern.fullmatch(value):
            raise self._fail(key, f"is not {what}")
        return value

    def unsigned(self, key: str, meaning: str) -> int:
        return int(self.check(key, _UNSIGNED, f"a non-negative integer ({meaning})"))

    def optional_unsigned(self, key: str, meaning: str) -> int | None:
        return self.unsigned(key, meaning) if key in self._fields else None

    def content_hash(self, key: str, meaning: str) -> str:
        return self.check(key, _CONTENT_HASH, f"a content hash ({meaning})")

    def optional_hash(self, key: str, meaning: str) -> str | None:
        return self.content_hash(key, meaning) if key in self._fields else None

    def yes_no(self, key: str, meaning: str) -> bool:
        value = self._fields.get(key, "no")
        if value not in ("yes", "no"):
            raise self._fail(key, f"is not 'yes' or 'no' ({meaning})")
        return value == "yes"
