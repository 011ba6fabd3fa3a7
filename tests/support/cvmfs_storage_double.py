"""TEST DOUBLE support: the repository storage as the cvmfs_server double and its swissknife see it.

Paths: the double works under the file-system root ``CVMFS_DOUBLE_ROOT`` (default:
``CVMFS_PUBLISHER_ROOT``); :func:`host` maps a pod path there. Reading goes over plain HTTP to the
Stratum 0 URL, as cvmfs does; writing goes to S3 with the settings of the spooler definition
(``CVMFS_UPSTREAM_STORAGE``), whose S3 config file is read like ``S3Uploader::ParseSpoolerDefinition``
(cvmfs/upload_s3.cc; upload_spooler_definition.cc) reads it: through ``BashOptionsManager``
(:func:`tests.support.cvmfs_shell.read_options`). Objects are laid out by
:mod:`cvmfs_operator.stratum0.layout` (a zlib JSON catalog here, SQLite in cvmfs).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from tests.support import cvmfs_layout as layout
from tests.support.cvmfs_shell import read_options
from tests.support.s3fanout_double import Fanout, S3Target, UploadError

# upload_s3.cc x_amz_acl_allowed_values_
ALLOWED_ACLS = ("private", "public-read", "public-write", "authenticated-read", "aws-exec-read",
                "bucket-owner-read", "bucket-owner-full-control", "")
REQUIRED_S3_KEYS = ("CVMFS_S3_HOST", "CVMFS_S3_ACCESS_KEY", "CVMFS_S3_SECRET_KEY", "CVMFS_S3_BUCKET")


class Failure(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def root() -> Path:
    return Path(os.environ.get("CVMFS_DOUBLE_ROOT") or os.environ.get("CVMFS_PUBLISHER_ROOT") or "/")


def host(path: str) -> Path:
    return root() / path.lstrip("/")


def log_path() -> Path:
    return Path(os.environ.get("CVMFS_DOUBLE_LOG") or root() / "cvmfs_server_double.log")


def is_on(value: str) -> bool:
    """``OptionsManager::IsOn`` (cvmfs/options.cc)."""
    return value.upper() in ("YES", "ON", "1", "TRUE")


def http_get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Cache-Control": "max-age=0"}),
                                    timeout=10) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise Failure(f"HTTP {error.code} for {url}", errno.EIO) from None
    except (urllib.error.URLError, ValueError) as error:
        raise Failure(f"cannot reach {url}: {error}", errno.EIO) from None


def manifest_fields(raw: bytes) -> dict[str, str]:
    fields = {}
    for line in raw.split(b"\n"):
        if line == b"--":
            break
        if line:
            fields[chr(line[0])] = line[1:].decode()
    return fields


def manifest_from(fields: dict[str, str]) -> layout.ManifestFields:
    return layout.ManifestFields(
        revision=int(fields["S"]), root_hash=fields["C"], timestamp=int(fields.get("T", "0")),
        fqrn=fields.get("N", ""), tag_db_hash=fields.get("H") or None, reflog_hash=fields.get("Y") or None,
        gc=fields.get("G") == "yes")


def unsigned_manifest(fields: layout.ManifestFields) -> bytes:
    """What ``swissknife sync`` writes to ``-o`` and ``tag_edit``/``sign`` read from ``-m``."""
    return layout.manifest_bytes(fields).partition(b"--\n")[0]


def fetch_object(stratum0: str, digest: str, suffix: str) -> bytes:
    raw = http_get(f"{stratum0}/data/{digest[:2]}/{digest[2:]}{suffix}")
    if raw is None:
        raise Failure(f"object {digest}{suffix} missing", errno.EIO)
    return raw


def reflog_bytes(previous: bytes | None, rows: list[tuple[str, int, int]]) -> bytes:
    """The double's reflog: an uncompressed SQLite file listing referenced objects."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "reflog.db")
        if previous:
            Path(path).write_bytes(previous)
        db = sqlite3.connect(path)
        try:
            db.execute("CREATE TABLE IF NOT EXISTS refs (hash TEXT, type INTEGER, timestamp INTEGER, "
                       "CONSTRAINT pk_refs PRIMARY KEY (hash, type))")
            db.executemany("INSERT OR IGNORE INTO refs VALUES (?, ?, ?)", rows)
            db.commit()
        finally:
            db.close()
        return Path(path).read_bytes()


def read_tags(compressed: bytes) -> list[layout.Tag]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tags.db")
        Path(path).write_bytes(zlib.decompress(compressed))
        db = sqlite3.connect(path)
        try:
            rows = db.execute("SELECT name, hash, revision, timestamp, description, channel, size, branch "
                              "FROM tags").fetchall()
        finally:
            db.close()
    return [layout.Tag(*row) for row in rows]


def tags_of(stratum0: str, fields: dict[str, str]) -> list[layout.Tag]:
    """The tag database the manifest ``fields`` name (none before the first tag)."""
    return read_tags(fetch_object(stratum0, fields["H"], "H")) if fields.get("H") else []


def s3_settings(conf: Path, alias: str) -> dict[str, str]:
    """The S3 config file as the uploader reads it, refused where ParseSpoolerDefinition refuses it.

    Stricter than cvmfs in one way, on purpose: a config readable by others is refused (the
    publisher must write it 0600; cvmfs itself does not check).
    """
    try:
        mode = stat.S_IMODE(conf.stat().st_mode)
    except OSError:
        raise Failure(f"Cannot find S3 config file at '{conf}'") from None
    if mode & 0o077:
        raise Failure(f"S3 config is readable by others (mode {oct(mode)})")
    settings = read_options(conf, {"fqrn": alias, "org": alias.split(".")[0]})
    for key in REQUIRED_S3_KEYS:
        if key not in settings:
            raise Failure(f"Failed to parse {key} from '{conf}'")
    if settings.get("CVMFS_S3_FLAVOR", "awsv2") not in ("azure", "awsv2", "awsv4"):
        raise Failure(f"Failed to parse CVMFS_S3_FLAVOR from '{conf}', "
                      "valid options are azure, awsv2 or awsv4")
    if settings.get("CVMFS_S3_X_AMZ_ACL", "") not in ALLOWED_ACLS:
        raise Failure(f"{settings['CVMFS_S3_X_AMZ_ACL']} is not an allowed value for CVMFS_S3_X_AMZ_ACL")
    return settings


@dataclass(frozen=True)
class Spooler:
    """A spooler definition ``<type>,<tmp>,<config>`` (upload_spooler_definition.cc)."""

    kind: str
    tmp: str
    config: str

    @classmethod
    def parse(cls, definition: str) -> Spooler:
        parts = definition.split(",")
        if len(parts) != 3:
            raise Failure("Invalid spooler driver")
        if parts[0] not in ("S3", "local", "gw", "mock"):
            raise Failure(f"unknown spooler driver: {parts[0]}")
        return cls(*parts)

    def s3_target(self) -> tuple[str, Path]:
        """(alias, S3 config file) of an S3 spooler."""
        config = self.config.split("@")
        if len(config) != 2:
            raise Failure(f"Failed to parse spooler configuration string '{self.config}'.\n"
                          "Provide: <repo_alias>@/path/to/s3.conf")
        return config[0], host(config[1])


class Uploader:
    """Writes objects the way the S3 uploader addresses them (s3fanout ``MkUrl``)."""

    def __init__(self, spooler: Spooler) -> None:
        if spooler.kind != "S3":
            raise Failure(f"the cvmfs_swissknife double only uploads to S3, not {spooler.kind!r}")
        self.alias, conf = spooler.s3_target()
        settings = s3_settings(conf, self.alias)
        # S3Uploader's constructor and ParseSpoolerDefinition (upload_s3.cc): V2 unless a region is
        # set (any CVMFS_S3_REGION selects V4), and CVMFS_S3_FLAVOR, when given, decides last.
        flavor = settings.get("CVMFS_S3_FLAVOR") or ("awsv4" if "CVMFS_S3_REGION" in settings else "awsv2")
        if flavor == "azure":
            raise Failure("the cvmfs_swissknife double does not upload to Azure")
        self.fanout = Fanout(S3Target(
            host=settings["CVMFS_S3_HOST"],
            port=int(settings["CVMFS_S3_PORT"]) if "CVMFS_S3_PORT" in settings else None,
            https=is_on(settings.get("CVMFS_S3_USE_HTTPS", "")),
            bucket=settings["CVMFS_S3_BUCKET"],
            access_key=settings["CVMFS_S3_ACCESS_KEY"],
            secret_key=settings["CVMFS_S3_SECRET_KEY"],
            region=settings.get("CVMFS_S3_REGION", ""),
            dns_buckets=settings.get("CVMFS_S3_DNS_BUCKETS") != "false",
            acl=settings.get("CVMFS_S3_X_AMZ_ACL", "public-read"),
            flavor=flavor,
        ))

    def put(self, key: str, body: bytes) -> None:
        """``key`` below the alias (``data/xx/...``, ``.cvmfspublished``)."""
        try:
            self.fanout.put(f"{self.alias}/{key}", body)
        except UploadError as exc:
            raise Failure(f"Upload job for '{key}' failed: {exc}", errno.EIO) from None

    def delete(self, key: str) -> None:
        """``key`` below the alias."""
        try:
            self.fanout.delete(f"{self.alias}/{key}")
        except UploadError as exc:
            raise Failure(f"Deletion of '{key}' failed: {exc}", errno.EIO) from None

    def put_content(self, content: bytes, suffix: str) -> str:
        digest, key = layout.content_key(self.alias, content, suffix)
        self.put(key.removeprefix(f"{self.alias}/"), content)
        return digest
