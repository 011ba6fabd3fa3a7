"""Parse ``.cvmfswhitelist``, the master-key-signed list of allowed certificates (CVMFS.md §4.3).

Line 1: creation time ``YYYYMMDDHHMMSS`` (UTC). Line 2: ``E`` + expiry, same format. Line 3:
``N`` + FQRN. Optional ``Vpkcs7`` and ``Wcachain`` lines. Then certificate fingerprints (hex pairs
joined by ``:``, optionally followed by whitespace or ``#`` and a comment), until ``--``.

Clients compare the expiry at hour granularity (cvmfs ``Whitelist::IsBefore``): a whitelist
expiring at 12:59:59 is already refused at 12:00:00. :attr:`Whitelist.effective_expiry` is that
instant; :attr:`Whitelist.expires_at` is what the file says.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from cvmfs_operator.stratum0.errors import CorruptObject
from cvmfs_operator.stratum0.signed_text import Line, header_lines

WHITELIST = ".cvmfswhitelist"

_TIMESTAMP = re.compile(r"[0-9]{14}")
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+(-[A-Za-z0-9]+)?")


@dataclass(frozen=True)
class Whitelist:
    created_at: datetime.datetime  # UTC
    expires_at: datetime.datetime  # UTC, as written in the E line
    name: str  # N, the FQRN
    fingerprints: tuple[str, ...]  # upper-case, as "AB:CD:…"
    pkcs7: bool = False
    ca_chain: bool = False

    @property
    def effective_expiry(self) -> datetime.datetime:
        """When clients and ``cvmfs_server`` start refusing it: the expiry truncated to the hour."""
        return self.expires_at.replace(minute=0, second=0, microsecond=0)

    def expired(self, now: datetime.datetime) -> bool:
        return now >= self.effective_expiry


def parse_whitelist(data: bytes, object_name: str = WHITELIST) -> Whitelist:
    """Parse the whitelist bytes; raise :class:`CorruptObject` naming the line at fault."""
    lines = header_lines(data, object_name)
    if len(lines) < 3:
        raise CorruptObject(f"expected at least 3 header lines (creation, E expiry, N name), "
                            f"found {len(lines)}", object_name=object_name)
    created = _timestamp(lines[0], lines[0].text, "creation time", object_name)
    if not lines[1].text.startswith("E"):
        raise CorruptObject(f"expected the expiry line 'E<YYYYMMDDHHMMSS>', found {lines[1].text!r}",
                            object_name=object_name, line=lines[1].number)
    expires = _timestamp(lines[1], lines[1].text[1:], "expiry time", object_name)
    if not lines[2].text.startswith("N") or len(lines[2].text) < 2:
        raise CorruptObject(f"expected the repository name line 'N<fqrn>', found {lines[2].text!r}",
                            object_name=object_name, line=lines[2].number)
    rest = [line.text for line in lines[3:]]
    pkcs7 = bool(rest) and rest[0] == "Vpkcs7"
    rest = rest[1:] if pkcs7 else rest
    ca_chain = bool(rest) and rest[0] == "Wcachain"
    rest = rest[1:] if ca_chain else rest
    fingerprints = tuple(fp for fp in (_fingerprint(text) for text in rest) if fp is not None)
    if not fingerprints and not pkcs7:
        raise CorruptObject("no certificate fingerprint after the N line", object_name=object_name)
    return Whitelist(created_at=created, expires_at=expires, name=lines[2].text[1:],
                     fingerprints=fingerprints, pkcs7=pkcs7, ca_chain=ca_chain)


def _timestamp(line: Line, text: str, meaning: str, object_name: str) -> datetime.datetime:
    if not _TIMESTAMP.fullmatch(text):
        raise CorruptObject(f"{meaning} is not YYYYMMDDHHMMSS: {text!r}",
                            object_name=object_name, line=line.number)
    try:
        parsed = datetime.datetime.strptime(text, "%Y%m%d%H%M%S")
    except ValueError:
        raise CorruptObject(f"{meaning} is not a valid date: {text!r}",
                            object_name=object_name, line=line.number) from None
    return parsed.replace(tzinfo=datetime.UTC)


def _fingerprint(text: str) -> str | None:
    """The fingerprint on a line, without a trailing comment; None for lines cvmfs would skip."""
    candidate = re.split(r"[ \t#]", text, maxsplit=1)[0]
    if not _FINGERPRINT.fullmatch(candidate):
        return None
    digest, dash, algorithm = candidate.partition("-")
    return digest.upper() + (dash + algorithm if dash else "")
