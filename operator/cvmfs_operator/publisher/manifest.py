"""Read the repository's manifest (``.cvmfspublished``) over plain HTTP from the Stratum 0 URL."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

TIMEOUT_SECONDS = 20


@dataclass(frozen=True)
class ManifestInfo:
    revision: int
    root_hash: str
    reflog_hash: str | None


def parse(raw: bytes) -> ManifestInfo:
    """Header lines up to ``--``: one key character, then the value (CVMFS.md §4.2)."""
    fields: dict[str, str] = {}
    for line in raw.split(b"\n"):
        if line == b"--":
            break
        if line:
            text = line.decode("ascii", errors="replace")
            fields[text[0]] = text[1:]
    if "S" not in fields or "C" not in fields:
        raise ValueError("manifest lacks the revision (S) or root hash (C)")
    return ManifestInfo(revision=int(fields["S"]), root_hash=fields["C"], reflog_hash=fields.get("Y"))


def fetch(stratum0_url: str) -> ManifestInfo:
    """Raises ``OSError`` (network, HTTP) or ``ValueError`` (not a manifest)."""
    request = urllib.request.Request(
        stratum0_url.rstrip("/") + "/.cvmfspublished",
        headers={"Cache-Control": "max-age=0", "User-Agent": "cvmfs-publisher"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        return parse(response.read())
