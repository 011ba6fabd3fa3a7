"""Runs the real ``cvmfs-publisher`` as a subprocess against the cvmfs_server double and moto S3."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cvmfs_operator.api import contract
from tests.support import cvmfs_layout as layout
from tests.support.cvmfs_server_double import manifest_fields, reflog_bytes
from tests.support.s3 import ACCESS_KEY, SECRET_KEY, S3Endpoint

BIN = Path(__file__).resolve().parents[2] / "support" / "bin"
FQRN = "sw.example.org"
PRIVATE_KEY_LINE = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDsecretkeymaterial01"
GATEWAY_SECRET = "gw-secret-0123456789abcdef"
T = TypeVar("T")


def eventually(check: Callable[[], T | None], what: str, timeout: float = 15.0) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    result: dict[str, Any]


@dataclass
class Stratum0:
    """One seeded repository in a moto bucket, and a file-system root for one publisher pod."""

    s3: S3Endpoint
    bucket: str
    root: Path
    prefix: str = FQRN
    env_extra: dict[str, str] = field(default_factory=dict)

    # --- the repository in S3 ------------------------------------------------------------------
    def _put_key(self, key: str, body: bytes) -> None:
        """Public-read, as cvmfs uploads (the Stratum 0 URL is read anonymously)."""
        self.s3.client().put_object(Bucket=self.bucket, Key=key, Body=body, ACL="public-read")

    def put(self, key: str, body: bytes) -> None:
        self._put_key(f"{self.prefix}/{key}", body)

    def get(self, key: str) -> bytes:
        response = self.s3.client().get_object(Bucket=self.bucket, Key=f"{self.prefix}/{key}")
        return bytes(response["Body"].read())

    def seed(self, files: dict[str, bytes] | None = None, revision: int = 3,
             whitelist_days: int = 30) -> str:
        """Publish revision ``revision`` holding ``files``; return the reflog checksum."""
        now = int(time.time())
        entries: dict[str, dict[str, Any]] = {}
        for path, content in (files or {}).items():
            parts = path.split("/")
            for depth in range(1, len(parts)):
                entries["/".join(parts[:depth])] = {"type": "dir", "mode": 0o755}
            compressed = zlib.compress(content)
            digest, key = layout.content_key(self.prefix, compressed, "")
            self._put_key(key, compressed)
            entries[path] = {"type": "file", "mode": 0o644, "hash": digest}
        catalog = zlib.compress(json.dumps({"entries": entries}, sort_keys=True).encode())
        root_hash, key = layout.content_key(self.prefix, catalog, "C")
        self._put_key(key, catalog)
        tag_db = layout.tag_database_bytes([layout.Tag("trunk", root_hash, revision, now, "current HEAD")])
        tag_hash, key = layout.content_key(self.prefix, tag_db, "H")
        self._put_key(key, tag_db)
        reflog = reflog_bytes(None, [(root_hash, 0, now), (tag_hash, 2, now)])
        reflog_hash = hashlib.sha1(reflog).hexdigest()
        self.put(".cvmfsreflog", reflog)
        created = datetime.datetime.now(datetime.UTC)
        self.put(".cvmfswhitelist", layout.whitelist_bytes(
            FQRN, created, created + datetime.timedelta(days=whitelist_days)))
        self.put(".cvmfs_master_replica", b"replicable\n")
        self.put(".cvmfspublished", layout.manifest_bytes(layout.ManifestFields(
            revision=revision, root_hash=root_hash, timestamp=now, fqrn=FQRN, tag_db_hash=tag_hash,
            reflog_hash=reflog_hash)))
        return reflog_hash

    def manifest(self) -> dict[str, str]:
        return manifest_fields(self.get(".cvmfspublished"))

    def tags(self) -> dict[str, layout.Tag]:
        from tests.support.cvmfs_server_double import read_tags

        digest = self.manifest()["H"]
        return {t.name: t for t in read_tags(self.get(f"data/{digest[:2]}/{digest[2:]}H"))}

    def published_tree(self) -> dict[str, Any]:
        """path -> file bytes, "dir", or ("symlink", target), as the current revision holds it."""
        digest = self.manifest()["C"]
        entries = json.loads(zlib.decompress(self.get(f"data/{digest[:2]}/{digest[2:]}C")))["entries"]
        tree: dict[str, Any] = {}
        for path, entry in entries.items():
            if entry["type"] == "file":
                h = entry["hash"]
                tree[path] = zlib.decompress(self.get(f"data/{h[:2]}/{h[2:]}"))
            elif entry["type"] == "dir":
                tree[path] = "dir"
            else:
                tree[path] = ("symlink", entry["target"])
        return tree

    # --- the pod ---------------------------------------------------------------------------------
    def host(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    @property
    def spool(self) -> Path:
        return self.host(f"{contract.SPOOL_DIR}/{FQRN}")

    @property
    def union(self) -> Path:
        return self.host(f"/cvmfs/{FQRN}")

    @property
    def result_path(self) -> Path:
        return self.root / "termination-log"

    def mount_secrets(self, gateway: bool = False) -> None:
        """The Secret volumes as the kubelet mounts them: read-only files, mode 0400."""
        keys = self.host(contract.KEYS_DIR)
        keys.mkdir(parents=True, exist_ok=True)
        pem = f"-----BEGIN PRIVATE KEY-----\n{PRIVATE_KEY_LINE}\n-----END PRIVATE KEY-----\n"
        files = {keys / f"{FQRN}.crt": "-----BEGIN CERTIFICATE-----\nMIIcert\n-----END CERTIFICATE-----\n",
                 keys / f"{FQRN}.pub": "-----BEGIN PUBLIC KEY-----\nMIIpub\n-----END PUBLIC KEY-----\n",
                 keys / f"{FQRN}.key": pem}
        creds = self.host(contract.S3_CREDENTIALS_DIR)
        files[creds / contract.S3_ACCESS_KEY_FILE] = ACCESS_KEY
        files[creds / contract.S3_SECRET_KEY_FILE] = SECRET_KEY + "\n"
        if gateway:
            gw_key = self.host(contract.GATEWAY_KEY_DIR) / f"{FQRN}.gw"
            files[gw_key] = f"plain_text keyid1 {GATEWAY_SECRET}\n"
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            os.chmod(path, 0o400)

    def config(self, payload: dict[str, Any], **overrides: Any) -> dict[str, Any]:
        config: dict[str, Any] = {
            "contractVersion": contract.CONTRACT_VERSION,
            "fqrn": FQRN,
            "stratum0Url": self.s3.public_url(self.bucket, self.prefix),
            "s3": {"endpoint": self.s3.url, "bucket": self.bucket, "region": "us-east-1",
                   "dnsBuckets": False, "prefix": self.prefix, "maxConnections": 4, "acl": "public-read"},
            "settings": {"hashAlgorithm": "sha1", "compressionAlgorithm": "default",
                         "garbageCollection": False, "autoTag": True},
            "path": "/sw",
            "payload": payload,
            "tagName": "team-release-1",
            "tagDescription": "release 1",
            "reflogChecksum": None,
            "revisionBefore": 3,
            "transaction": "team/release-1",
            "allowScripts": False,
        }
        config.update(overrides)
        return config

    def env(self, config: dict[str, Any] | str, **extra: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "CVMFS_"))}
        env.update({
            "PATH": f"{BIN}:{os.path.dirname(sys.executable)}:{env.get('PATH', '/usr/bin:/bin')}",
            "CVMFS_PUBLISHER_ROOT": str(self.root),
            "CVMFS_PUBLISHER_RESULT_PATH": str(self.result_path),
            "CVMFS_DOUBLE_PYTHON": sys.executable,
            contract.CONFIG_ENV: config if isinstance(config, str) else json.dumps(config),
        })
        env.update(self.env_extra)
        env.update(extra)
        return env

    def start(self, config: dict[str, Any] | str, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "cvmfs_operator.publisher"],
                                env=self.env(config, **extra), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def finish(self, process: subprocess.Popen[str]) -> Run:
        stdout, stderr = process.communicate(timeout=30)
        raw = self.result_path.read_bytes()
        assert len(raw) < contract.RESULT_MAX_BYTES
        return Run(process.returncode, stdout, stderr, dict(contract.decode_result(raw)))

    def run(self, config: dict[str, Any] | str, **extra: str) -> Run:
        return self.finish(self.start(config, **extra))

    def calls(self) -> list[list[str]]:
        """The cvmfs_server double's invocations, in order (argv of each started call)."""
        log = self.root / "cvmfs_server_double.log"
        if not log.exists():
            return []
        events = [json.loads(line) for line in log.read_text().splitlines()]
        return [event["argv"] for event in events if event["event"] == "start"]

    def verbs(self) -> list[str]:
        return [argv[0] for argv in self.calls()]
