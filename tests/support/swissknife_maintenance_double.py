"""TEST DOUBLE of the ``cvmfs_swissknife`` commands behind ``tag``, ``rollback``, ``gc``, ``check``, ``mkfs``.

Parsed like every stand-in command (:mod:`tests.support.swissknife_double`); each works only from
its options, reads the Stratum 0 over HTTP and writes through the spooler definition, as the real
one does. Messages are the real ones (cvmfs 2.12.0, github.com/cvmfs/cvmfs @ ae7450ec) where the
double does what cvmfs does; where it does not, the message says so.

- ``tag_info`` / ``tag_list`` (swissknife_history.cc ``CommandInfoTag::Main``,
  ``CommandListTags::Main``, ``PrintTagMachineReadable``): ``-x`` prints
  ``name hash size revision timestamp branch description`` per tag (branch ``(default)``).
- ``tag_rollback`` (``CommandRollbackTag::Main``; history_sql.cc ``ROLLBACK_COND``;
  history_sqlite.cc ``SqliteHistory::Rollback``; ``CommandTag::UpdateUndoTags``): the target tag's
  root catalog is republished as revision ``S+1`` (new catalog object: revision, previous revision
  and timestamp change); every default-branch tag with a revision above the target's, and the
  target itself, is deleted; the target is re-inserted pointing at the new catalog; ``trunk``
  becomes the new revision; ``trunk-previous`` is removed and, with ``-n`` (not an undo), re-set to
  the old ``trunk`` only if that tag survived the deletion (it never does: its revision is the
  current one). Prints ``removed tag <name> (<hash>)`` for each deleted tag.
- ``gc`` (swissknife_gc.cc ``CommandGc::Main``; garbage_collection/garbage_collector_impl.h;
  catalog_traversal.h ``IsBelowPruningThresholds``): preserved = the head revision and its
  predecessors until ``-h`` revisions back or the first one added to the reflog before ``-z``
  (inclusive), plus every tagged root catalog; every reflog catalog not preserved is swept with
  the objects it references that no preserved catalog references; tag databases and certificates
  listed in the reflog before the oldest preserved head revision are swept too, except the
  manifest's own. ``-d`` deletes nothing, ``-l`` prints ``Sweep: <hash><suffix>``, ``-L`` appends
  the same to a file. The new ``.cvmfsreflog`` is uploaded and its hash written to ``-R``; the
  manifest (and its ``Y``) is NOT touched (the real one does not either).
- ``check`` (swissknife_check.cc ``CommandCheck::Main``, ``InspectReflog``, ``InspectTree``):
  reflog checksum, root catalog and tag database in the reflog, ``-n`` tag, every file's data
  object with ``-c``; ``no problems found`` or ``CATALOG PROBLEMS OR OTHER ERRORS FOUND`` (exit 1).
  Not checked: the certificate's reflog entry (the double's ``sign`` does not record it).
- ``create`` (swissknife_sync.cc ``CommandCreate::Main``; catalog_mgr_rw.cc ``CreateRepository``):
  an empty root catalog, an empty ``.cvmfsreflog`` (its hash written to ``-R``) and a revision-0
  manifest (``G yes`` with ``-z``) in ``-o``. It never looks whether the storage holds a repository.
- ``upload`` (swissknife_sync.cc ``CommandUpload``): ``-i`` stored as ``-o``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.support import cvmfs_layout as layout
from tests.support.cvmfs_storage_double import (
    Failure,
    Spooler,
    Uploader,
    fetch_object,
    host,
    http_get,
    manifest_fields,
    manifest_from,
    reflog_bytes,
    tags_of,
    unsigned_manifest,
)

Options = dict[str, str | bool]
HEAD, PREVIOUS = "trunk", "trunk-previous"
CATALOG, CERTIFICATE, HISTORY, METAINFO = 0, 1, 2, 3  # SqlReflog::ReferenceType
SUFFIXES = {CATALOG: "C", CERTIFICATE: "X", HISTORY: "H", METAINFO: "M"}


def _text(options: Options, key: str, default: str = "") -> str:
    value = options.get(key, default)
    assert isinstance(value, str)
    return value


def _out(line: str) -> None:
    print(line, flush=True)


def _rfc_now() -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())


# --- repository objects -------------------------------------------------------------------------
def catalog_of(stratum0: str, digest: str) -> dict[str, Any]:
    """The double's catalog (zlib JSON): ``entries`` and, from sync and rollback on, ``revision``,
    ``previous`` (the base root hash) and ``timestamp``."""
    data: dict[str, Any] = json.loads(zlib.decompress(fetch_object(stratum0, digest, "C")))
    return data


def catalog_bytes(catalog: dict[str, Any]) -> bytes:
    return zlib.compress(json.dumps(catalog, sort_keys=True).encode())


def reflog_rows(raw: bytes) -> list[tuple[str, int, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reflog.db"
        path.write_bytes(raw)
        db = sqlite3.connect(path)
        try:
            rows = db.execute("SELECT hash, type, timestamp FROM refs").fetchall()
        finally:
            db.close()
    return [(str(h), int(t), int(s)) for h, t, s in rows]


def reflog_without(raw: bytes, condemned: set[str]) -> bytes:
    kept = [row for row in reflog_rows(raw) if row[0] not in condemned]
    return reflog_bytes(None, kept)


def _fetch_manifest(url: str) -> dict[str, str]:
    raw = http_get(f"{url}/.cvmfspublished")
    if raw is None:
        raise Failure("failed to load manifest file")
    return manifest_fields(raw)


def _environment_manifest(options: Options) -> dict[str, str]:
    """``CommandTag::InitializeEnvironment``: the ``-m`` file if it exists, else the remote one."""
    path = _text(options, "m")
    if path and host(path).is_file():
        return manifest_fields(host(path).read_bytes())
    return _fetch_manifest(_text(options, "w"))


def _read_only_environment(options: Options) -> None:
    if "p" not in options:
        raise Failure("no public key provided (-p)\nfailed to init environment")
    if "f" not in options:
        raise Failure("no repository name provided (-f)\nfailed to init environment")


def _machine_readable(tag: layout.Tag) -> str:
    return (f"{tag.name} {tag.hash} {tag.size} {tag.revision} {tag.timestamp} "
            f"{tag.branch or '(default)'} {tag.description}")


# --- tag_info, tag_list ---------------------------------------------------------------------------
def tag_info(options: Options) -> None:
    _read_only_environment(options)
    tags = tags_of(_text(options, "w"), _environment_manifest(options))
    name = _text(options, "n")
    tag = next((t for t in tags if t.name == name), None)
    if tag is None:
        raise Failure(f"tag '{name}' does not exist")
    if "x" in options:
        _out(_machine_readable(tag))
        return
    _out(f"Name:         {tag.name}\nRevision:     {tag.revision}\n"
         f"Timestamp:    {time.strftime('%d %b %Y %H:%M:%S', time.gmtime(tag.timestamp))}\n"
         f"Branch:       {tag.branch}\nRoot Hash:    {tag.hash}\nCatalog Size: {tag.size} Byte\n"
         f"{tag.description}")


def tag_list(options: Options) -> None:
    _read_only_environment(options)
    if "B" in options:
        raise Failure("the cvmfs_swissknife double does not emulate branch listings (-B)")
    tags = sorted(tags_of(_text(options, "w"), _environment_manifest(options)),
                  key=lambda t: (t.revision, t.name))
    if "x" in options:
        for tag in tags:
            _out(_machine_readable(tag))
        return
    _out("Name │ Revision │ Timestamp │ Branch │ Description")
    for tag in reversed(tags):
        _out(f"{tag.name} │ {tag.revision} │ {tag.timestamp} │ {tag.branch} │ {tag.description}")
    _out(f"listing contains {len(tags)} tags")


# --- tag_rollback ---------------------------------------------------------------------------------
def _undo_tags(tags: list[layout.Tag], template: layout.Tag, undo_rollback: bool) -> list[layout.Tag]:
    """``CommandTag::UpdateUndoTags``."""
    head = next((t for t in tags if t.name == HEAD), None)
    tags = [t for t in tags if t.name not in (HEAD, PREVIOUS)]
    if head is not None and not undo_rollback:
        tags.append(replace(head, name=PREVIOUS, description="default undo target"))
    return [*tags, replace(template, name=HEAD, description="current HEAD")]


def tag_rollback(options: Options) -> None:
    if "r" not in options:
        raise Failure("no upstream storage provided (-r)\nfailed to init environment")
    if "m" not in options:
        raise Failure("no (unsigned) manifest provided (-m)\nfailed to init environment")
    undo_rollback = "n" not in options
    name = PREVIOUS if undo_rollback else _text(options, "n")
    stratum0 = _text(options, "w")
    fields = _environment_manifest(options)
    tags = tags_of(stratum0, fields)
    target = next((t for t in tags if t.name == name), None)
    if target is None:
        raise Failure("only one anonymous rollback supported - perhaps you want to provide a tag name?"
                      if undo_rollback else f"tag '{name}' does not exist")
    if target.branch:
        raise Failure("rollback is only supported on the default branch")
    affected = sorted((t for t in tags if (t.revision > target.revision or t.name == name) and not t.branch),
                      key=lambda t: -t.revision)
    current = int(fields["S"])
    if target.revision == current:
        raise Failure(f"not rolling back to current head ({current})")
    try:
        catalog = catalog_of(stratum0, target.hash)
    except Failure:
        raise Failure(f"failed to open catalog with hash '{target.hash}'") from None
    now = int(time.time())
    catalog.update(revision=current + 1, previous=fields["C"], timestamp=now)
    uploader = Uploader(Spooler.parse(_text(options, "r")))
    content = catalog_bytes(catalog)
    root_hash = uploader.put_content(content, "C")
    updated = replace(target, hash=root_hash, size=len(content), revision=current + 1, timestamp=now)
    condemned = {t.name for t in affected}
    tags = _undo_tags([*(t for t in tags if t.name not in condemned), updated], updated, undo_rollback)
    fields.update(C=root_hash, S=str(current + 1), T=str(now))
    fields["H"] = uploader.put_content(layout.tag_database_bytes(tags), "H")
    host(_text(options, "m")).write_bytes(unsigned_manifest(manifest_from(fields)))
    width = max((len(t.name) for t in affected), default=0)
    for tag in affected:
        _out(f"removed tag {tag.name.ljust(width)} ({tag.hash})")


# --- gc ---------------------------------------------------------------------------------------------
def _int64(text: str) -> int:
    """``String2Int64``: the leading (signed) digits, 0 without any."""
    digits = ""
    for index, char in enumerate(text):
        if char.isdigit() or (index == 0 and char == "-"):
            digits += char
        else:
            break
    return int(digits) if digits.strip("-") else 0


class _Sweeper:
    def __init__(self, options: Options, uploader: Uploader) -> None:
        self.uploader, self.dry_run = uploader, "d" in options
        self.verbose, self.log_path = "l" in options, _text(options, "L")
        self.swept: set[str] = set()

    def sweep(self, digest: str, suffix: str) -> None:
        if digest + suffix in self.swept:
            return
        self.swept.add(digest + suffix)
        if self.verbose:
            _out(f"Sweep: {digest}{suffix}")
        if self.log_path:
            with host(self.log_path).open("a") as log:
                log.write(f"{digest}{suffix}\n")
        if not self.dry_run:
            key = f"{self.uploader.alias}/data/{digest[:2]}/{digest[2:]}{suffix}"
            self.uploader.client.delete_object(Bucket=self.uploader.bucket, Key=key)


def _preserved_heads(stratum0: str, head: str, depth_limit: int | None, since: int | None,
                     added: dict[str, int]) -> list[str]:
    """The head revision and its predecessors the traversal keeps (``IsBelowPruningThresholds``)."""
    kept, digest, depth = [], head, 0
    while digest:
        kept.append(digest)
        below = (depth_limit is not None and depth >= depth_limit) or (
            since is not None and added.get(digest, 0) < since)
        if below:
            break
        try:
            digest = str(catalog_of(stratum0, digest).get("previous") or "")
        except Failure:  # ignore_load_failure
            break
        depth += 1
    return kept


def _referenced(stratum0: str, digest: str) -> set[str]:
    try:
        entries = catalog_of(stratum0, digest)["entries"]
    except Failure:
        return set()
    return {entry["hash"] for entry in entries.values() if entry.get("hash")}


def gc(options: Options) -> None:
    try:
        checksum = host(_text(options, "R")).read_text().strip()
    except OSError:
        raise Failure("Could not read reflog checksum") from None
    depth = _int64(_text(options, "h")) if "h" in options else None
    since = _int64(_text(options, "z")) if "z" in options else None
    if depth is None and since is None:
        raise Failure("neither a timestamp nor history threshold given")
    stratum0, name = _text(options, "r"), _text(options, "n")
    raw = http_get(f"{stratum0}/.cvmfspublished")
    if raw is None:
        raise Failure("failed to load repository manifest (2 - manifest not found)")
    fields = manifest_fields(raw)
    if fields.get("G") != "yes":
        raise Failure("repository does not allow garbage collection")
    reflog = http_get(f"{stratum0}/.cvmfsreflog")
    if reflog is None or hashlib.sha1(reflog).hexdigest() != checksum:
        print(f"data corruption in .cvmfsreflog for {name}, run `cvmfs_server check -r` to fix",
              file=sys.stderr)
        raise Failure("cvmfs_swissknife: swissknife_gc.cc: Assertion `reflog.IsValid()' failed.", 134)
    uploader = Uploader(Spooler.parse(_text(options, "u")))
    sweeper = _Sweeper(options, uploader)
    rows = reflog_rows(reflog)
    added = {digest: stamp for digest, kind, stamp in rows if kind == CATALOG}
    _out(f"  --> marking unreferenced objects [{_rfc_now()}]")
    heads = _preserved_heads(stratum0, fields["C"], depth, since, added)
    preserved_catalogs = {*heads, *(t.hash for t in tags_of(stratum0, fields))}
    preserved = set(preserved_catalogs)
    for digest in preserved_catalogs:
        preserved |= _referenced(stratum0, digest)
    oldest = min(added.get(digest, 0) for digest in heads)
    _out(f"  --> sweeping unreferenced objects [{_rfc_now()}]")
    condemned: set[str] = set()
    for digest, kind, _ in rows:
        if kind == CATALOG and digest not in preserved:
            for obj in sorted(_referenced(stratum0, digest) - preserved):
                sweeper.sweep(obj, "")
            sweeper.sweep(digest, "C")
            condemned.add(digest)
    keep = {fields.get("X", ""), fields.get("H", ""), fields.get("M", "")}
    for digest, kind, stamp in rows:
        if kind != CATALOG and stamp < oldest and digest not in keep:
            sweeper.sweep(digest, SUFFIXES.get(kind, ""))
            condemned.add(digest)
    _out(f"  --> done garbage collecting [{_rfc_now()}]")
    if "d" in options:
        return
    new_reflog = reflog_without(reflog, condemned)
    uploader.put(".cvmfsreflog", new_reflog)
    host(_text(options, "R")).write_text(hashlib.sha1(new_reflog).hexdigest())


# --- check ---------------------------------------------------------------------------------------
def _exists(stratum0: str, key: str) -> bool:
    try:
        return http_get(f"{stratum0}/{key}") is not None
    except Failure:
        return False


def _inspect_reflog(stratum0: str, options: Options, fields: dict[str, str]) -> bool:
    reflog = http_get(f"{stratum0}/.cvmfsreflog")
    if reflog is None:
        if "R" in options:
            print("local reflog checksum set but reflog itself is missing, aborting", file=sys.stderr)
            return False
        return True
    if "R" not in options:
        print(".cvmfsreflog present but no checksum provided, aborting", file=sys.stderr)
        return False
    try:
        expected = host(_text(options, "R")).read_text().strip()
    except OSError:
        raise Failure("failed to read reflog checksum file") from None
    _out("Inspecting log of references")
    computed = hashlib.sha1(reflog).hexdigest()
    problem = ""
    listed = {digest for digest, _, _ in reflog_rows(reflog)} if computed == expected else set()
    if computed != expected:
        problem = f"The .cvmfsreflog has unexpected content hash {computed} (expected {expected})"
    elif fields["C"] not in listed:
        problem = f"failed to find catalog root hash {fields['C']} in .cvmfsreflog"
    elif fields.get("H") and fields["H"] not in listed:
        problem = f"failed to find tag database's hash {fields['H']} in .cvmfsreflog"
    if problem:
        print(f"{problem}\nfailed to verify reflog", file=sys.stderr)
        return False
    return True


def check(options: Options) -> None:
    if "s" in options:
        raise Failure("the cvmfs_swissknife double does not emulate nested catalogs (-s)")
    stratum0 = _text(options, "r")
    if "k" not in options or "N" not in options:
        raise Failure("please provide pubkey and repo name for remote repositories")
    raw = http_get(f"{stratum0}/.cvmfspublished")
    if raw is None:
        raise Failure("failed to load repository manifest")
    fields = manifest_fields(raw)
    if not _inspect_reflog(stratum0, options, fields):
        raise Failure("", 1)
    root = fields["C"]
    if "n" in options:
        tag_name = _text(options, "n")
        if not fields.get("H"):
            raise Failure("no history")
        tag = next((t for t in tags_of(stratum0, fields) if t.name == tag_name), None)
        if tag is None:
            raise Failure(f"no such tag: {tag_name}")
        root = tag.hash
        _out(f"Inspecting repository tag {tag_name}")
    try:
        entries = catalog_of(stratum0, root)["entries"]
    except Failure:
        print(f"failed to load catalog {root}", file=sys.stderr)
        raise Failure("CATALOG PROBLEMS OR OTHER ERRORS FOUND") from None
    healthy = True
    for path, entry in sorted(entries.items()):
        digest = entry.get("hash")
        if "c" in options and digest and not _exists(stratum0, f"data/{digest[:2]}/{digest[2:]}"):
            print(f"data chunk {digest} (/{path}) missing", file=sys.stderr)
            healthy = False
    if not healthy:
        raise Failure("CATALOG PROBLEMS OR OTHER ERRORS FOUND")
    _out("no problems found")


# --- create, upload ---------------------------------------------------------------------------------
def create(options: Options) -> None:
    if "V" in options or "v" in options:
        raise Failure("the cvmfs_swissknife double does not emulate VOMS or volatile repositories")
    if _text(options, "a", "sha1") != "sha1":
        raise Failure("the cvmfs_swissknife double only implements sha1")
    uploader = Uploader(Spooler.parse(_text(options, "r")))
    now = int(time.time())
    root_hash = uploader.put_content(catalog_bytes({"entries": {}, "revision": 0, "timestamp": now}), "C")
    reflog = reflog_bytes(None, [])
    uploader.put(".cvmfsreflog", reflog)
    host(_text(options, "R")).write_text(hashlib.sha1(reflog).hexdigest())
    fields = layout.ManifestFields(revision=0, root_hash=root_hash, timestamp=0, fqrn="",
                                   gc="z" in options)
    host(_text(options, "o")).write_bytes(unsigned_manifest(fields))


def upload(options: Options) -> None:
    source = host(_text(options, "i"))
    try:
        body = source.read_bytes()
    except OSError:
        raise Failure(f"failed to upload {_text(options, 'i')}") from None
    Uploader(Spooler.parse(_text(options, "r"))).put(_text(options, "o").lstrip("/"), body)


COMMANDS: dict[str, Callable[[Options], None]] = {
    "tag_info": tag_info, "tag_list": tag_list, "tag_rollback": tag_rollback, "gc": gc, "check": check,
    "create": create, "upload": upload}

