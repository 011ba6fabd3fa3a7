"""One look at a repository: its manifest and whitelist, each either parsed or the error met.

:func:`observe` is the only I/O step of the health check (through any
:class:`~cvmfs_operator.stratum0.reader.Stratum0Reader`); it never raises a
:class:`Stratum0Error`, it records it, so :mod:`health` can stay pure. A whitelist changes
rarely (re-signed every few weeks): a caller that read one lately may pass it in, and only the
manifest is read.
"""

from __future__ import annotations

from dataclasses import dataclass

from cvmfs_operator.stratum0.errors import AccessDenied, BucketMissing, Stratum0Error, Unreachable, as_value
from cvmfs_operator.stratum0.manifest import Manifest
from cvmfs_operator.stratum0.reader import Stratum0Reader
from cvmfs_operator.stratum0.whitelist import Whitelist

# After these, reading the next object cannot succeed either: don't wait for a second failure.
_TRANSPORT_ERRORS = (Unreachable, AccessDenied, BucketMissing)


@dataclass(frozen=True)
class KnownWhitelist:
    """A whitelist read earlier, with the root hash the manifest had then."""

    whitelist: Whitelist
    root_hash: str


@dataclass(frozen=True)
class Observation:
    manifest: Manifest | Stratum0Error
    whitelist: Whitelist | Stratum0Error | None  # None when not read (the manifest read failed hard)


def observe(reader: Stratum0Reader, known: KnownWhitelist | None = None) -> Observation:
    """Read the manifest, and the whitelist unless ``known`` still stands for it (read while the
    manifest had the same root hash: a publish or a restored repository reads it again)."""
    try:
        manifest: Manifest | Stratum0Error = reader.manifest()
    except Stratum0Error as error:
        manifest = as_value(error)
        if isinstance(error, _TRANSPORT_ERRORS):
            return Observation(manifest=manifest, whitelist=None)
    if known is not None and isinstance(manifest, Manifest) and manifest.root_hash == known.root_hash:
        return Observation(manifest=manifest, whitelist=known.whitelist)
    try:
        whitelist: Whitelist | Stratum0Error = reader.whitelist()
    except Stratum0Error as error:
        whitelist = as_value(error)
    return Observation(manifest=manifest, whitelist=whitelist)
