"""The one interface to a Stratum 0, whatever the transport (S3 API or plain HTTP).

:class:`Stratum0Reader` is the Protocol the operator depends on (tests can hand it a fake).
:class:`ObjectReader` implements every operation on top of one primitive, ``get_object(name)``,
which the transports provide (``S3Reader``, ``HttpReader``). Names are relative to the
repository root: ``.cvmfspublished``, ``data/ab/cdef…H``.
"""

from __future__ import annotations

import abc
import hashlib
from typing import Protocol

from cvmfs_operator.stratum0.errors import InvalidConfiguration, ObjectMissing
from cvmfs_operator.stratum0.manifest import MANIFEST, Manifest, parse_manifest
from cvmfs_operator.stratum0.tags import TagInfo, find_in, list_tags
from cvmfs_operator.stratum0.whitelist import WHITELIST, Whitelist, parse_whitelist

REFLOG = ".cvmfsreflog"
TAG_DB_SUFFIX = "H"


def data_object_name(content_hash: str, suffix: str) -> str:
    """``data/<h[:2]>/<h[2:]><suffix>``, the name of a content-addressed object (CVMFS.md §4.5)."""
    return f"data/{content_hash[:2]}/{content_hash[2:]}{suffix}"


class Stratum0Reader(Protocol):
    """Read-only view of one repository. Every method raises only :class:`Stratum0Error`."""

    def manifest(self) -> Manifest: ...

    def whitelist(self) -> Whitelist: ...

    def find_tag(self, name: str, manifest: Manifest | None = None) -> TagInfo | None: ...

    def tags(self, manifest: Manifest | None = None) -> tuple[TagInfo, ...]: ...

    def tag_database(self, manifest: Manifest | None = None) -> tuple[str, bytes] | None: ...

    def reflog_checksum(self, algorithm: str = "sha1") -> str | None: ...


class ObjectReader(abc.ABC):
    """The Stratum 0 operations, written once against :meth:`get_object`."""

    @abc.abstractmethod
    def get_object(self, name: str) -> bytes:
        """The bytes of the object ``name``; raises :class:`Stratum0Error` subclasses only."""

    def manifest(self) -> Manifest:
        return parse_manifest(self.get_object(MANIFEST), MANIFEST)

    def whitelist(self) -> Whitelist:
        return parse_whitelist(self.get_object(WHITELIST), WHITELIST)

    def find_tag(self, name: str, manifest: Manifest | None = None) -> TagInfo | None:
        """The named tag, or None when the repository has no tag of that name.

        Reads the manifest first unless one is given (pass the manifest you already hold to save a
        request). A manifest without ``H`` means a repository without tags: None. A manifest that
        names a tag database which is missing is an error (:class:`ObjectMissing`), not "no tag":
        the exactly-once decision must not read a broken repository as "never published".
        """
        return find_in(self.tag_database(manifest), name)

    def tags(self, manifest: Manifest | None = None) -> tuple[TagInfo, ...]:
        """Every tag, sorted by name; empty for a repository without a tag database."""
        database = self.tag_database(manifest)
        return () if database is None else list_tags(database[1], database[0])

    def reflog_checksum(self, algorithm: str = "sha1") -> str | None:
        """Hex hash of ``.cvmfsreflog`` as ``reflog.chksum`` holds it; None when there is no reflog.

        ``algorithm`` is the repository's hash algorithm (``Manifest.hash_algorithm``).
        """
        try:
            reflog = self.get_object(REFLOG)
        except ObjectMissing:
            return None
        return content_hash(reflog, algorithm)

    def tag_database(self, manifest: Manifest | None = None) -> tuple[str, bytes] | None:
        """(object name, compressed bytes) of the tag database the manifest names; None when it
        names none. Content-addressed: what it says stays true for that manifest."""
        current = manifest if manifest is not None else self.manifest()
        if current.tag_db_hash is None:
            return None
        name = data_object_name(current.tag_db_hash, TAG_DB_SUFFIX)
        return name, self.get_object(name)


def content_hash(data: bytes, algorithm: str) -> str:
    """Hex content hash the way cvmfs prints it: the algorithm id is appended for non-SHA-1."""
    if algorithm == "sha1":
        return hashlib.sha1(data).hexdigest()
    if algorithm == "shake128":
        return hashlib.shake_128(data).hexdigest(20) + "-shake128"
    if algorithm == "rmd160" and "ripemd160" in hashlib.algorithms_available:
        return hashlib.new("ripemd160", data).hexdigest() + "-rmd160"
    raise InvalidConfiguration(f"hash algorithm {algorithm!r} is not supported here", object_name=REFLOG)
