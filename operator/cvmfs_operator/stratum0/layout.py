"""Build repository objects the way CernVM-FS lays them out in storage (simulations and tests).

Never used to publish for real (nothing here signs). The demo's simulated publisher, the
``cvmfs_server`` test double and the Stratum 0 tests build their objects with it, so they agree
with one another and with the parsers in this package and CVMFS.md §4: a manifest
(``.cvmfspublished``) whose header lines end at ``--`` followed by a hex hash line and binary
signature bytes, a whitelist with an ``E`` expiry line, and a tag database that is a
zlib-compressed SQLite file stored content-addressed under ``data/`` with suffix ``H``.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import sqlite3
import tempfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

SIGNATURE_BYTES = b"\x8a\x00\xff\x10binary-signature\x00\x01"


@dataclass(frozen=True)
class Tag:
    name: str
    hash: str
    revision: int
    timestamp: int
    description: str
    channel: int = 0
    size: int = 16384
    branch: str = ""


@dataclass
class ManifestFields:
    revision: int
    root_hash: str
    timestamp: int
    fqrn: str
    tag_db_hash: str | None = None
    reflog_hash: str | None = None
    certificate_hash: str = "0a6960cc63fc506c3cd808c47c365d307854e076"
    metainfo_hash: str | None = None
    ttl: int = 240
    gc: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)


def fake_hash(seed: str) -> str:
    """A 40-hex SHA-1 standing in for a catalog or object hash."""
    return hashlib.sha1(seed.encode()).hexdigest()


def manifest_bytes(fields: ManifestFields) -> bytes:
    lines = [
        f"C{fields.root_hash}",
        "B16384",
        "Rd41d8cd98f00b204e9800998ecf8427e",
        f"D{fields.ttl}",
        f"S{fields.revision}",
        f"G{'yes' if fields.gc else 'no'}",
        "Ano",
        f"N{fields.fqrn}",
        f"X{fields.certificate_hash}",
    ]
    if fields.tag_db_hash:
        lines.append(f"H{fields.tag_db_hash}")
    lines.append(f"T{fields.timestamp}")
    if fields.metainfo_hash:
        lines.append(f"M{fields.metainfo_hash}")
    if fields.reflog_hash:
        lines.append(f"Y{fields.reflog_hash}")
    lines.extend(f"{key}{value}" for key, value in fields.extra.items())
    header = ("\n".join(lines) + "\n").encode()
    digest = hashlib.sha1(header).hexdigest().encode()
    return header + b"--\n" + digest + b"\n" + SIGNATURE_BYTES


DEFAULT_FINGERPRINT = "58:07:51:5E:DD:8F:16:18:9A:59:16:0D:04:71:06:52:C3:2C:F3:69"


def whitelist_bytes(fqrn: str, created: datetime.datetime, expires: datetime.datetime,
                    fingerprints: Iterable[str] = (DEFAULT_FINGERPRINT,)) -> bytes:
    fmt = "%Y%m%d%H%M%S"
    lines = [created.strftime(fmt), "E" + expires.strftime(fmt), "N" + fqrn, *fingerprints]
    header = ("\n".join(lines) + "\n").encode()
    digest = hashlib.sha1(header).hexdigest().encode()
    return header + b"--\n" + digest + b"\n" + SIGNATURE_BYTES


def tag_database_bytes(tags: Iterable[Tag]) -> bytes:
    """A zlib-compressed SQLite tag database with the cvmfs tag table."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tags.db")
        db = sqlite3.connect(path)
        try:
            db.executescript(
                """
                CREATE TABLE tags (name TEXT, hash TEXT, revision INTEGER, timestamp INTEGER,
                                   channel INTEGER, description TEXT, size INTEGER, branch TEXT,
                                   CONSTRAINT pk_tags PRIMARY KEY (name));
                CREATE TABLE properties (key TEXT, value TEXT, CONSTRAINT pk_properties PRIMARY KEY (key));
                CREATE TABLE branches (branch TEXT, parent TEXT, initial_revision INTEGER,
                                       CONSTRAINT pk_branch PRIMARY KEY (branch));
                CREATE TABLE recycle_bin (hash TEXT, flags INTEGER,
                                          CONSTRAINT pk_hash PRIMARY KEY (hash));
                INSERT INTO properties VALUES ('schema', '2.0'), ('schema_revision', '0');
                INSERT INTO branches VALUES ('', NULL, 0);
                """
            )
            db.executemany(
                "INSERT INTO tags VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(t.name, t.hash, t.revision, t.timestamp, t.channel, t.description, t.size, t.branch)
                 for t in tags],
            )
            db.commit()
        finally:
            db.close()
        with open(path, "rb") as f:
            return zlib.compress(f.read())


def content_key(prefix: str, content: bytes, suffix: str) -> tuple[str, str]:
    """(hash, S3 key) of a content-addressed object: ``<prefix>/data/<h[:2]>/<h[2:]><suffix>``."""
    digest = hashlib.sha1(content).hexdigest()
    return digest, f"{prefix}/data/{digest[:2]}/{digest[2:]}{suffix}"
