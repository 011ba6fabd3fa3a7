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
- ``gc``, ``check``: :mod:`tests.support.swissknife_gc_double`.
- ``create`` (swissknife_sync.cc ``CommandCreate::Main``; catalog_mgr_rw.cc ``CreateRepository``):
  an empty root catalog, an empty ``.cvmfsreflog`` (its hash written to ``-R``) and a revision-0
  manifest (``G yes`` with ``-z``) in ``-o``. It never looks whether the storage holds a repository.
- ``upload`` (swissknife_sync.cc ``CommandUpload``): ``-i`` stored as ``-o``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
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


def option(options: Options, key: str, default: str = "") -> str:
    value = options.get(key, default)
    assert isinstance(value, str)
    return value


def out(line: str) -> None:
    print(line, flush=True)


def rfc_now() -> str:
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
    path = option(options, "m")
    if path and host(path).is_file():
        return manifest_fields(host(path).read_bytes())
    return _fetch_manifest(option(options, "w"))


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
    tags = tags_of(option(options, "w"), _environment_manifest(options))
    name = option(options, "n")
    tag = next((t for t in tags if t.name == name), None)
    if tag is None:
        raise Failure(f"tag '{name}' does not exist")
    if "x" in options:
        out(_machine_readable(tag))
        return
    out(f"Name:         {tag.name}\nRevision:     {tag.revision}\n"
         f"Timestamp:    {time.strftime('%d %b %Y %H:%M:%S', time.gmtime(tag.timestamp))}\n"
         f"Branch:       {tag.branch}\nRoot Hash:    {tag.hash}\nCatalog Size: {tag.size} Byte\n"
         f"{tag.description}")


def tag_list(options: Options) -> None:
    _read_only_environment(options)
    if "B" in options:
        raise Failure("the cvmfs_swissknife double does not emulate branch listings (-B)")
    tags = sorted(tags_of(option(options, "w"), _environment_manifest(options)),
                  key=lambda t: (t.revision, t.name))
    if "x" in options:
        for tag in tags:
            out(_machine_readable(tag))
        return
    out("Name │ Revision │ Timestamp │ Branch │ Description")
    for tag in reversed(tags):
        out(f"{tag.name} │ {tag.revision} │ {tag.timestamp} │ {tag.branch} │ {tag.description}")
    out(f"listing contains {len(tags)} tags")


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
    name = PREVIOUS if undo_rollback else option(options, "n")
    stratum0 = option(options, "w")
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
    uploader = Uploader(Spooler.parse(option(options, "r")))
    content = catalog_bytes(catalog)
    root_hash = uploader.put_content(content, "C")
    updated = replace(target, hash=root_hash, size=len(content), revision=current + 1, timestamp=now)
    condemned = {t.name for t in affected}
    tags = _undo_tags([*(t for t in tags if t.name not in condemned), updated], updated, undo_rollback)
    fields.update(C=root_hash, S=str(current + 1), T=str(now))
    fields["H"] = uploader.put_content(layout.tag_database_bytes(tags), "H")
    host(option(options, "m")).write_bytes(unsigned_manifest(manifest_from(fields)))
    width = max((len(t.name) for t in affected), default=0)
    for tag in affected:
        out(f"removed tag {tag.name.ljust(width)} ({tag.hash})")


# --- create, upload ---------------------------------------------------------------------------------
def create(options: Options) -> None:
    if "V" in options or "v" in options:
        raise Failure("the cvmfs_swissknife double does not emulate VOMS or volatile repositories")
    if option(options, "a", "sha1") != "sha1":
        raise Failure("the cvmfs_swissknife double only implements sha1")
    uploader = Uploader(Spooler.parse(option(options, "r")))
    now = int(time.time())
    root_hash = uploader.put_content(catalog_bytes({"entries": {}, "revision": 0, "timestamp": now}), "C")
    reflog = reflog_bytes(None, [])
    uploader.put(".cvmfsreflog", reflog)
    host(option(options, "R")).write_text(hashlib.sha1(reflog).hexdigest())
    fields = layout.ManifestFields(revision=0, root_hash=root_hash, timestamp=0, fqrn="",
                                   gc="z" in options)
    host(option(options, "o")).write_bytes(unsigned_manifest(fields))


def upload(options: Options) -> None:
    source = host(option(options, "i"))
    try:
        body = source.read_bytes()
    except OSError:
        raise Failure(f"failed to upload {option(options, 'i')}") from None
    Uploader(Spooler.parse(option(options, "r"))).put(option(options, "o").lstrip("/"), body)


COMMANDS: dict[str, Callable[[Options], None]] = {
    "tag_info": tag_info, "tag_list": tag_list, "tag_rollback": tag_rollback, "create": create,
    "upload": upload}

