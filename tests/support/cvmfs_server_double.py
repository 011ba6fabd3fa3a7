"""A TEST DOUBLE of ``cvmfs_server`` (not CernVM-FS): the verbs the publisher uses, same state machine.

Run through ``tests/support/bin/cvmfs_server``. It works under the file-system root
``CVMFS_DOUBLE_ROOT`` (default: ``CVMFS_PUBLISHER_ROOT``) and keeps cvmfs's observable behaviour:

* ``mount <fqrn>`` fails like cvmfs unless the attachment files are what a real mount needs
  (server.conf keys, client.conf, both fstab lines, key modes, spool dirs, s3.conf 0600); it then
  shows the published tree in ``/cvmfs/<fqrn>`` (a plain directory here, no FUSE/OverlayFS);
* ``transaction <fqrn>[/<lease>]`` exits EEXIST (17) while ``<spool>/in_transaction.lock`` exists,
  EIO (5) when the whitelist is missing or expired; with a gateway it writes ``session_token``;
* ``publish -a TAG -m TEXT <fqrn>`` needs the lock, checks ``reflog.chksum`` (or the manifest's
  ``Y``) against ``$CVMFS_STRATUM0/.cvmfsreflog`` and then uploads, to the endpoint read from
  s3.conf/server.conf, the files, a catalog (zlib JSON here, SQLite in cvmfs), a tag DB with the tag
  plus ``trunk``/``trunk-previous``, a new ``.cvmfsreflog`` and the next ``.cvmfspublished``;
* ``abort -f`` clears the lock, ``session_token``, ``tmp/`` and restores the published tree;
* ``ingest -t TAR -b DIR <fqrn>`` = transaction + unpack + publish (auto-tag only), abort on failure.

Knobs: ``CVMFS_DOUBLE_FAIL=verb[,verb]`` exits 1 at the start of those verbs;
``CVMFS_DOUBLE_HANG=verb`` blocks there until killed; every call is appended (JSON lines, a
``start`` and an ``exit`` event) to ``CVMFS_DOUBLE_LOG`` (default ``<root>/cvmfs_server_double.log``).
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path
from typing import Any

from tests.support import cvmfs_layout as layout

KEY_MODES = {".crt": 0o444, ".pub": 0o444, ".key": 0o400, ".gw": 0o400}
SPOOL_DIRS = ("rdonly", "scratch/current", "scratch/wastebin", "ofs_workdir", "tmp", "cache")
REQUIRED_SERVER_KEYS = ("CVMFS_CREATOR_VERSION", "CVMFS_REPOSITORY_NAME", "CVMFS_REPOSITORY_TYPE",
                        "CVMFS_USER", "CVMFS_UNION_DIR", "CVMFS_SPOOL_DIR", "CVMFS_STRATUM0",
                        "CVMFS_UPSTREAM_STORAGE", "CVMFS_HASH_ALGORITHM")


class Failure(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def root() -> Path:
    return Path(os.environ.get("CVMFS_DOUBLE_ROOT") or os.environ.get("CVMFS_PUBLISHER_ROOT") or "/")


def host(path: str) -> Path:
    return root() / path.lstrip("/")


def parse_conf(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def http_get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Cache-Control": "max-age=0"}),
                                    timeout=10) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise Failure(f"HTTP {error.code} for {url}", errno.EIO) from None
    except urllib.error.URLError as error:
        raise Failure(f"cannot reach {url}: {error.reason}", errno.EIO) from None


def manifest_fields(raw: bytes) -> dict[str, str]:
    fields = {}
    for line in raw.split(b"\n"):
        if line == b"--":
            break
        if line:
            fields[chr(line[0])] = line[1:].decode()
    return fields


class Repo:
    def __init__(self, fqrn: str) -> None:
        self.fqrn = fqrn.split("/", 1)[0]
        conf = host(f"/etc/cvmfs/repositories.d/{self.fqrn}/server.conf")
        if not conf.exists():
            raise Failure(f"The repository {self.fqrn} does not exist", 1)
        self.server = parse_conf(conf)
        missing = [key for key in REQUIRED_SERVER_KEYS if not self.server.get(key)]
        if missing:
            raise Failure(f"server.conf lacks {', '.join(missing)}", errno.EINVAL)
        if self.server["CVMFS_CREATOR_VERSION"] != "143":
            raise Failure("This repository uses layout revision "
                          f"{self.server['CVMFS_CREATOR_VERSION']}; run `cvmfs_server migrate`", errno.EINVAL)
        self.spool = host(self.server["CVMFS_SPOOL_DIR"])
        self.union = host(self.server["CVMFS_UNION_DIR"])
        self.stratum0 = self.server["CVMFS_STRATUM0"].rstrip("/")
        kind, tmp, target = [*self.server["CVMFS_UPSTREAM_STORAGE"].split(","), "", ""][:3]
        self.gateway = kind == "gw"
        self.alias, _, s3_conf = target.partition("@")
        self.s3_conf_path = host(s3_conf) if kind == "S3" else None
        if kind not in ("S3", "gw") or not tmp:
            raise Failure(f"unsupported upstream {kind!r} in the double", errno.EINVAL)

    @property
    def lock(self) -> Path:
        return self.spool / "in_transaction.lock"

    # --- checks a real mount would trip over ------------------------------------------------
    def check_attachment(self) -> None:
        config_dir = host(f"/etc/cvmfs/repositories.d/{self.fqrn}")
        client = config_dir / "client.conf"
        if not client.exists():
            raise Failure(f"{client} missing")
        client_conf = parse_conf(client)
        if client_conf.get("CVMFS_SERVER_URL", "").rstrip("/") != self.stratum0:
            raise Failure("client.conf CVMFS_SERVER_URL differs from CVMFS_STRATUM0")
        spool = self.server["CVMFS_SPOOL_DIR"]
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
        suffixes = (".crt", ".pub", ".gw") if self.gateway else (".crt", ".pub", ".key")
        for suffix in suffixes:
            key = host(f"/etc/cvmfs/keys/{self.fqrn}{suffix}")
            if not key.exists():
                raise Failure(f"{key.name} missing in /etc/cvmfs/keys")
            if stat.S_IMODE(key.stat().st_mode) != KEY_MODES[suffix]:
                raise Failure(f"{key.name} has mode {oct(stat.S_IMODE(key.stat().st_mode))}")
        for sub in SPOOL_DIRS:
            if not (self.spool / sub).is_dir():
                raise Failure(f"spool directory {sub} missing")
        if not (self.spool / "client.local").exists():
            raise Failure("client.local missing")
        if not self.union.is_dir():
            raise Failure(f"mount point {self.union} missing")
        if self.s3_conf_path is not None:
            self.s3_settings()

    def s3_settings(self) -> dict[str, str]:
        assert self.s3_conf_path is not None
        try:
            mode = stat.S_IMODE(self.s3_conf_path.stat().st_mode)
            settings = parse_conf(self.s3_conf_path)
        except OSError as error:
            raise Failure(f"cannot read the S3 config: {error.strerror}") from None
        if mode & 0o077:
            raise Failure(f"S3 config is readable by others (mode {oct(mode)})")
        for key in ("CVMFS_S3_HOST", "CVMFS_S3_ACCESS_KEY", "CVMFS_S3_SECRET_KEY", "CVMFS_S3_BUCKET"):
            if not settings.get(key):
                raise Failure(f"S3 config lacks {key}")
        return settings

    def s3(self) -> tuple[Any, str, str]:
        """A client addressed as cvmfs would (s3fanout MkUrl), the bucket, and the x-amz-acl."""
        import boto3  # imported here: most verbs need no S3 client, and boto3 is slow to import
        from botocore.config import Config

        settings = self.s3_settings()
        scheme = "https" if settings.get("CVMFS_S3_USE_HTTPS") == "true" else "http"
        port = f":{settings['CVMFS_S3_PORT']}" if settings.get("CVMFS_S3_PORT") else ""
        dns = settings.get("CVMFS_S3_DNS_BUCKETS", "true") != "false"
        client = boto3.client(
            "s3", endpoint_url=f"{scheme}://{settings['CVMFS_S3_HOST']}{port}",
            region_name=settings.get("CVMFS_S3_REGION") or "us-east-1",
            aws_access_key_id=settings["CVMFS_S3_ACCESS_KEY"],
            aws_secret_access_key=settings["CVMFS_S3_SECRET_KEY"],
            config=Config(s3={"addressing_style": "virtual" if dns else "path"}, retries={"max_attempts": 1},
                          connect_timeout=5),
        )
        acl = settings.get("CVMFS_S3_X_AMZ_ACL", "public-read").strip('"')
        return client, settings["CVMFS_S3_BUCKET"], acl

    # --- the published state ------------------------------------------------------------------
    def manifest(self) -> dict[str, str]:
        raw = http_get(f"{self.stratum0}/.cvmfspublished")
        if raw is None:
            raise Failure("failed to load the repository manifest", errno.EIO)
        return manifest_fields(raw)

    def object(self, digest: str, suffix: str, decompress: bool = True) -> bytes:
        raw = http_get(f"{self.stratum0}/data/{digest[:2]}/{digest[2:]}{suffix}")
        if raw is None:
            raise Failure(f"object {digest}{suffix} missing", errno.EIO)
        return zlib.decompress(raw) if decompress else raw

    def catalog(self) -> dict[str, dict[str, Any]]:
        entries: dict[str, dict[str, Any]] = json.loads(self.object(self.manifest()["C"], "C"))["entries"]
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
                target.write_bytes(self.object(entry["hash"], ""))
            if entry["type"] != "symlink":
                os.chmod(target, entry["mode"])

    def check_whitelist(self) -> None:
        raw = http_get(f"{self.stratum0}/.cvmfswhitelist")
        if raw is None:
            raise Failure("cannot load whitelist [not found]", errno.EIO)
        expiry = raw.split(b"\n")[1].decode()[1:]
        expires = datetime.datetime.strptime(expiry, "%Y%m%d%H%M%S").replace(tzinfo=datetime.UTC)
        if expires.replace(minute=0, second=0) <= datetime.datetime.now(datetime.UTC):
            raise Failure("cannot load whitelist [expired whitelist]", errno.EIO)

    def reflog_checksum(self, manifest: dict[str, str]) -> str | None:
        chksum = self.spool / "reflog.chksum"
        if chksum.exists():
            return chksum.read_text().strip()
        return manifest.get("Y")


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


def scan(union: Path) -> dict[str, tuple[dict[str, Any], bytes | None]]:
    tree: dict[str, tuple[dict[str, Any], bytes | None]] = {}
    for directory, dirnames, filenames in os.walk(union):
        for name in (*dirnames, *filenames):
            full = Path(directory) / name
            relative = str(full.relative_to(union))
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                tree[relative] = ({"type": "symlink", "target": os.readlink(full)}, None)
            elif stat.S_ISDIR(info.st_mode):
                tree[relative] = ({"type": "dir", "mode": stat.S_IMODE(info.st_mode)}, None)
            else:
                tree[relative] = ({"type": "file", "mode": stat.S_IMODE(info.st_mode)}, full.read_bytes())
    return tree


def check_reflog(repo: Repo, manifest: dict[str, str]) -> bytes | None:
    """cvmfs's signing-time guard (CVMFS.md §1.8), with its messages."""
    raw = http_get(f"{repo.stratum0}/.cvmfsreflog")
    expected = repo.reflog_checksum(manifest)
    if raw is None:
        if expected:
            raise Failure(f"reflog for '{repo.fqrn}' not found but reflog checksum is present, "
                          "run `cvmfs_server check -r` to fix\nSigning failed")
        return None
    if expected is None:
        raise Failure("no reflog hash specified but reflog is present\nSigning failed")
    if hashlib.sha1(raw).hexdigest() != expected:
        raise Failure(f"data corruption in .cvmfsreflog for {repo.fqrn}, run `cvmfs_server check -r` to fix"
                      "\nSigning failed")
    return raw


def publish(repo: Repo, tag: str | None, description: str) -> None:
    if not repo.lock.exists():
        raise Failure(f"Repository {repo.fqrn} is not in a transaction")
    manifest = repo.manifest()
    previous_reflog = check_reflog(repo, manifest)
    if repo.gateway:
        raise Failure("the cvmfs_server double does not emulate a gateway commit")
    client, bucket, acl = repo.s3()

    def put(Key: str, Body: bytes) -> None:
        client.put_object(Bucket=bucket, Key=Key, Body=Body, **({"ACL": acl} if acl else {}))

    now = int(time.time())
    entries: dict[str, dict[str, Any]] = {}
    for path, (entry, content) in scan(repo.union).items():
        if content is not None:
            compressed = zlib.compress(content)
            entry["hash"], key = layout.content_key(repo.alias, compressed, "")
            put(Key=key, Body=compressed)
        entries[path] = entry
    catalog = zlib.compress(json.dumps({"entries": entries}, sort_keys=True).encode())
    root_hash, catalog_key = layout.content_key(repo.alias, catalog, "C")
    put(Key=catalog_key, Body=catalog)
    revision = int(manifest["S"]) + 1
    tags = read_tags(repo.object(manifest["H"], "H", decompress=False)) if manifest.get("H") else []
    names = {t.name for t in tags}
    tag = tag or f"generic-{time.strftime('%Y-%m-%dT%H:%M:%S.000Z', time.gmtime(now))}"
    if tag in names:
        raise Failure(f"a tag with the name '{tag}' already exists")
    trunk = next((t for t in tags if t.name == "trunk"), None)
    kept = [t for t in tags if t.name not in ("trunk", "trunk-previous")]
    kept.append(layout.Tag(tag, root_hash, revision, now, description))
    if trunk is not None:
        kept.append(layout.Tag("trunk-previous", trunk.hash, trunk.revision, trunk.timestamp,
                               "default undo target"))
    kept.append(layout.Tag("trunk", root_hash, revision, now, "current HEAD"))
    tag_db = layout.tag_database_bytes(kept)
    tag_hash, tag_key = layout.content_key(repo.alias, tag_db, "H")
    put(Key=tag_key, Body=tag_db)
    reflog = reflog_bytes(previous_reflog, [(root_hash, 0, now), (tag_hash, 2, now)])
    reflog_hash = hashlib.sha1(reflog).hexdigest()
    put(Key=f"{repo.alias}/.cvmfsreflog", Body=reflog)
    chksum = repo.spool / "reflog.chksum"
    if chksum.exists():  # `sign` only updates an existing checksum file (CVMFS.md §1.8)
        chksum.write_text(reflog_hash)
    fields = layout.ManifestFields(
        revision=revision, root_hash=root_hash, timestamp=now, fqrn=repo.fqrn, tag_db_hash=tag_hash,
        reflog_hash=reflog_hash, gc=repo.server.get("CVMFS_GARBAGE_COLLECTION") == "true")
    put(Key=f"{repo.alias}/.cvmfspublished", Body=layout.manifest_bytes(fields))
    close_transaction(repo)
    print(f"Changes published: revision {revision}, tag {tag}")


def close_transaction(repo: Repo) -> None:
    for child in (repo.spool / "tmp").iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    (repo.spool / "session_token").unlink(missing_ok=True)
    repo.lock.unlink(missing_ok=True)


def transaction(repo: Repo, target: str) -> None:
    if repo.lock.exists():
        raise Failure(f"Repository {repo.fqrn} is already in a transaction", errno.EEXIST)
    repo.check_whitelist()
    repo.manifest()
    if repo.gateway:
        token = repo.spool / "session_token"
        token.write_text(f"double-lease-{hashlib.sha1(os.urandom(8)).hexdigest()[:16]}")
        os.chmod(token, 0o600)
    repo.lock.touch()
    print(f"Transaction open for {target}")


def abort(repo: Repo, force: bool) -> None:
    if not force:
        raise Failure("abort without -f would ask for confirmation")
    if not repo.lock.exists():
        if (repo.spool / "session_token").exists():
            (repo.spool / "session_token").unlink()
            raise Failure("removing stale session token", errno.EINVAL)
        raise Failure(f"Repository {repo.fqrn} is not in a transaction")
    for child in (repo.spool / "scratch" / "current").iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    repo.materialize()
    close_transaction(repo)
    print(f"Transaction of {repo.fqrn} aborted")


def ingest(repo: Repo, tar_file: str, base_dir: str) -> None:
    transaction(repo, repo.fqrn)
    try:
        target = repo.union / base_dir.strip("/")
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tar_file, mode="r:*") as archive:
            archive.extractall(target, filter="data")
        publish(repo, None, "")
    except (Failure, tarfile.TarError, OSError):
        abort(repo, force=True)
        raise


def _options(args: list[str], with_value: str) -> tuple[dict[str, str], list[str], set[str]]:
    values: dict[str, str] = {}
    switches: set[str] = set()
    rest: list[str] = []
    iterator = iter(args)
    for arg in iterator:
        if arg.startswith("-") and len(arg) > 1:
            long_names = {"tar_file": "t", "base_dir": "b"}
            name = long_names.get(arg[2:], arg[2:]) if arg.startswith("--") else arg[1:2]
            if name in with_value:
                values[name] = next(iterator, "")
            else:
                switches.add(name)
        else:
            rest.append(arg)
    return values, rest, switches


def dispatch(verb: str, args: list[str]) -> None:
    if verb in os.environ.get("CVMFS_DOUBLE_FAIL", "").split(","):
        raise Failure(f"cvmfs_server double: injected failure in {verb}")
    if verb in os.environ.get("CVMFS_DOUBLE_HANG", "").split(","):
        while True:
            signal.pause()
    values, rest, switches = _options(args, "amtbdn")
    if not rest:
        raise Failure("no repository name given")
    repo = Repo(rest[-1])
    if verb == "mount":
        repo.check_attachment()
        repo.manifest()  # the rdonly FUSE client mounts from the Stratum 0
        if not repo.lock.exists():
            repo.materialize()
    elif verb == "transaction":
        transaction(repo, rest[-1])
    elif verb == "publish":
        publish(repo, values.get("a"), values.get("m", ""))
    elif verb == "abort":
        abort(repo, "f" in switches)
    elif verb == "ingest":
        ingest(repo, values["t"], values.get("b", ""))
    else:
        raise Failure(f"the cvmfs_server double does not implement {verb!r}")


def _log(event: dict[str, Any]) -> None:
    path = Path(os.environ.get("CVMFS_DOUBLE_LOG") or root() / "cvmfs_server_double.log")
    with path.open("a") as log:
        log.write(json.dumps(event) + "\n")


def main(argv: list[str]) -> int:
    _log({"event": "start", "argv": argv, "pid": os.getpid()})
    code = 0
    try:
        if not argv:
            raise Failure("usage: cvmfs_server <command> [options] <fqrn>")
        dispatch(argv[0], argv[1:])
    except Failure as failure:
        print(str(failure), file=sys.stderr)
        code = failure.code
    _log({"event": "exit", "argv": argv, "code": code})
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
