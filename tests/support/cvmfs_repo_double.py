"""TEST DOUBLE support: one repository as the cvmfs_server double sees it, and its transaction state.

The configuration is read the way the real tool of each verb reads it:

- :meth:`Repo.sourced` — the cvmfs_server shell script (``mount``, ``publish``, ``ingest``):
  ``load_repo_config`` sources server.conf and client.conf (cvmfs_server_common.sh), so values are
  shell-evaluated once, and what a file runs, runs;
- :meth:`Repo.parsed` — cvmfs_publish (``transaction``, ``abort``): ``SettingsBuilder``
  (publish/settings.cc ``CreateSettingsRepository``, ``CreateSettingsPublisher``) parses
  server.local, server.conf and replica.conf with ``BashOptionsManager`` (cvmfs/options.cc).

Both come from :mod:`tests.support.cvmfs_shell`; nothing here splits ``key=value`` itself.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import shutil
import stat
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support.cvmfs_layout import Tag
from tests.support.cvmfs_shell import ShellExit, read_options, source_repo_config
from tests.support.cvmfs_storage_double import (
    Failure,
    Spooler,
    fetch_object,
    host,
    http_get,
    manifest_fields,
    s3_settings,
    tags_of,
)

KEY_MODES = {".crt": 0o444, ".pub": 0o444, ".key": 0o400, ".gw": 0o400, ".masterkey": 0o400}
SPOOL_DIRS = ("rdonly", "scratch/current", "scratch/wastebin", "ofs_workdir", "tmp", "cache")
REQUIRED_SERVER_KEYS = ("CVMFS_CREATOR_VERSION", "CVMFS_REPOSITORY_NAME", "CVMFS_REPOSITORY_TYPE",
                        "CVMFS_USER", "CVMFS_UNION_DIR", "CVMFS_SPOOL_DIR", "CVMFS_STRATUM0",
                        "CVMFS_UPSTREAM_STORAGE", "CVMFS_HASH_ALGORITHM")
# Every server.conf/client.conf parameter the double's cvmfs_server reads after load_repo_config
# (cvmfs_server_publish.sh builds its command strings from these).
SHELL_NAMES = (
    *REQUIRED_SERVER_KEYS, "CVMFS_COMPRESSION_ALGORITHM", "CVMFS_EXTERNAL_DATA", "CVMFS_LOG_LEVEL",
    "CVMFS_PUBLIC_KEY", "CVMFS_FOLLOW_REDIRECTS", "CVMFS_SERVER_PROXY", "CVMFS_UNION_FS_TYPE",
    "CVMFS_GENERATE_LEGACY_BULK_CHUNKS", "CVMFS_DEFAULT_GENERATE_LEGACY_BULK_CHUNKS",
    "CVMFS_USE_FILE_CHUNKING", "CVMFS_MIN_CHUNK_SIZE", "CVMFS_AVG_CHUNK_SIZE", "CVMFS_MAX_CHUNK_SIZE",
    "CVMFS_AUTOCATALOGS", "CVMFS_AUTOCATALOGS_MAX_WEIGHT", "CVMFS_AUTOCATALOGS_MIN_WEIGHT",
    "CVMFS_SERVER_USE_CATALOG_CACHE", "CVMFS_IGNORE_XDIR_HARDLINKS", "CVMFS_INCLUDE_XATTRS",
    "CVMFS_ENFORCE_LIMITS", "CVMFS_DEFAULT_ENFORCE_LIMITS", "CVMFS_ENABLE_MTIME_NS",
    "CVMFS_NESTED_KCATALOG_LIMIT", "CVMFS_ROOT_KCATALOG_LIMIT", "CVMFS_FILE_MBYTE_LIMIT",
    "CVMFS_NUM_UPLOAD_TASKS", "CVMFS_REPOSITORY_TTL", "CVMFS_MAXIMAL_CONCURRENT_WRITES",
    "CVMFS_VOMS_AUTHZ", "CVMFS_IGNORE_SPECIAL_FILES", "CVMFS_UPLOAD_STATS_DB", "CVMFS_VIRTUAL_DIR",
    "CVMFS_PRINT_STATISTICS", "CVMFS_AUTO_TAG", "CVMFS_AUTO_TAG_TIMESPAN", "CVMFS_GARBAGE_COLLECTION",
    "CVMFS_CATALOG_ALT_PATHS", "CVMFS_SERVER_URL",
)


def config_dir(fqrn: str) -> Path:
    return host(f"/etc/cvmfs/repositories.d/{fqrn}")


class Repo:
    def __init__(self, fqrn: str, config: Mapping[str, str | None]) -> None:
        self.fqrn = fqrn
        self.config = config
        missing = [key for key in REQUIRED_SERVER_KEYS if not self.value(key)]
        if missing:
            raise Failure(f"server.conf lacks {', '.join(missing)}", errno.EINVAL)
        if self.value("CVMFS_CREATOR_VERSION") != "143":
            raise Failure("This repository uses layout revision "
                          f"{self.value('CVMFS_CREATOR_VERSION')}; run `cvmfs_server migrate`", errno.EINVAL)
        self.spool = host(self.value("CVMFS_SPOOL_DIR"))
        self.union = host(self.value("CVMFS_UNION_DIR"))
        self.stratum0 = self.value("CVMFS_STRATUM0").rstrip("/")
        self.upstream = Spooler.parse(self.value("CVMFS_UPSTREAM_STORAGE"))
        self.gateway = self.upstream.kind == "gw"
        if self.upstream.kind not in ("S3", "gw"):
            raise Failure(f"unsupported upstream {self.upstream.kind!r} in the double", errno.EINVAL)

    @classmethod
    def sourced(cls, fqrn: str) -> Repo:
        """load_repo_config; a directory without server.conf fails where ``. server.conf`` fails."""
        directory = config_dir(fqrn)
        if not fqrn or "*" in fqrn or not directory.is_dir():  # check_repository_existence
            raise Failure(f"The repository {fqrn} does not exist.")
        try:
            values = source_repo_config(host("/etc/cvmfs/server.local"), directory / "server.conf",
                                        directory / "client.conf", directory / "replica.conf", SHELL_NAMES)
        except ShellExit as error:  # set -e: the script ends with the shell's status
            raise Failure("", error.code) from None
        return cls(fqrn, values)

    @classmethod
    def parsed(cls, fqrn: str) -> Repo:
        server = config_dir(fqrn) / "server.conf"
        if not server.exists():
            raise Failure("CernVM-FS error: Unable to find the configuration file `server.conf` for the "
                          f"cvmfs publisher: {fqrn}")
        values: dict[str, str | None] = {}
        for path in (host("/etc/cvmfs/server.local"), server, config_dir(fqrn) / "replica.conf"):
            values.update(read_options(path))
        if values.get("CVMFS_REPOSITORY_TYPE") != "stratum0":
            raise Failure(f"(unexpected termination) Repository {fqrn} is not a stratum 0 repository")
        return cls(fqrn, values)

    def value(self, key: str) -> str:
        """``$KEY`` (empty when unset)."""
        return self.config.get(key) or ""

    @property
    def lock(self) -> Path:
        return self.spool / "in_transaction.lock"

    # --- checks a real mount would trip over ------------------------------------------------
    def check_attachment(self) -> None:
        if not (config_dir(self.fqrn) / "client.conf").exists():
            raise Failure(f"{config_dir(self.fqrn) / 'client.conf'} missing")
        if self.value("CVMFS_SERVER_URL").rstrip("/") != self.stratum0:
            raise Failure("client.conf CVMFS_SERVER_URL differs from CVMFS_STRATUM0")
        spool = self.value("CVMFS_SPOOL_DIR")
        fstab = host("/etc/fstab").read_text() if host("/etc/fstab").exists() else ""
        marker = f"0 0 # added by CernVM-FS for {self.fqrn}"
        expected = [
            f"cvmfs2#{self.fqrn} {spool}/rdonly fuse allow_other,fsname={self.fqrn},config=/etc/cvmfs/"
            f"repositories.d/{self.fqrn}/client.conf:{spool}/client.local,cvmfs_suid,noauto {marker}",
            f"overlay_{self.fqrn} /cvmfs/{self.fqrn} overlay upperdir={spool}/scratch/current,lowerdir="
            f"{spool}/rdonly,workdir={spool}/ofs_workdir,noauto,nodev,ro {marker}",
        ]
        for line in expected:
            if line not in fstab.splitlines():
                raise Failure(f"mount: can't find {line.split()[1]} in /etc/fstab", 32)
        # The rdonly client reads the public key only; .crt and .key are read when signing
        # (swissknife sign), .masterkey by create_whitelist. Whatever key is there must have its mode.
        for suffix in KEY_MODES:
            key = host(f"/etc/cvmfs/keys/{self.fqrn}{suffix}")
            if not key.exists():
                if suffix == ".pub":
                    raise Failure(f"{key.name} missing in /etc/cvmfs/keys")
                continue
            if stat.S_IMODE(key.stat().st_mode) != KEY_MODES[suffix]:
                raise Failure(f"{key.name} has mode {oct(stat.S_IMODE(key.stat().st_mode))}")
        for sub in SPOOL_DIRS:
            if not (self.spool / sub).is_dir():
                raise Failure(f"spool directory {sub} missing")
        if not (self.spool / "client.local").exists():
            raise Failure("client.local missing")
        if not self.union.is_dir():
            raise Failure(f"mount point {self.union} missing")
        if self.upstream.kind == "S3":
            alias, conf = self.upstream.s3_target()
            s3_settings(conf, alias)

    # --- the published state ------------------------------------------------------------------
    def manifest(self) -> dict[str, str]:
        raw = http_get(f"{self.stratum0}/.cvmfspublished")
        if raw is None:
            raise Failure("failed to load the repository manifest", errno.EIO)
        return manifest_fields(raw)

    def tags(self) -> list[Tag]:
        return tags_of(self.stratum0, self.manifest())

    def catalog(self) -> dict[str, dict[str, Any]]:
        raw = fetch_object(self.stratum0, self.manifest()["C"], "C")
        entries: dict[str, dict[str, Any]] = json.loads(zlib.decompress(raw))["entries"]
        return entries

    def materialize(self) -> None:
        """Show the published tree in the union directory (what rdonly + empty upper would show)."""
        for child in list(self.union.iterdir()):
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        for path, entry in sorted(self.catalog().items()):
            target = self.union / path
            if entry["type"] == "dir":
                target.mkdir(parents=True, exist_ok=True)
            elif entry["type"] == "symlink":
                os.symlink(entry["target"], target)
            else:
                try:
                    target.write_bytes(zlib.decompress(fetch_object(self.stratum0, entry["hash"], "")))
                except Failure:  # FUSE fetches lazily: only reading such a file would fail (EIO)
                    continue
            if entry["type"] != "symlink":
                os.chmod(target, entry["mode"])

    def whitelist_expired(self) -> bool:
        """Expired from the start of its expiry hour (whitelist.cc); EIO when it cannot be loaded."""
        raw = http_get(f"{self.stratum0}/.cvmfswhitelist")
        if raw is None:
            raise Failure("cannot load whitelist [not found]", errno.EIO)
        expiry = raw.split(b"\n")[1].decode()[1:]
        expires = datetime.datetime.strptime(expiry, "%Y%m%d%H%M%S").replace(tzinfo=datetime.UTC)
        return expires.replace(minute=0, second=0) <= datetime.datetime.now(datetime.UTC)

    def close_transaction(self) -> None:
        for child in (self.spool / "tmp").iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        (self.spool / "session_token").unlink(missing_ok=True)
        self.lock.unlink(missing_ok=True)
