"""TEST DOUBLE of the storage work of ``cvmfs_swissknife sync``, ``tag_edit`` and ``sign``.

Each command works only from the options it received (parsed by
:mod:`tests.support.swissknife_double`), as the real one does: pod paths are mapped below the
double's root, the Stratum 0 is read over HTTP, objects are written through the spooler
definition ``-r``. The unsigned manifest passes from one command to the next in the file that
cvmfs_server names (``sync -o``, ``tag_edit -m``, ``sign -m``). Failure messages are the real ones
where the double does what cvmfs does; where it does not, the message says so.

- ``dirtab`` (swissknife_sync.cc ``CommandApplyDirtab::Main``): nothing without a ``.cvmfsdirtab``.

- ``sync`` (swissknife_sync.cc ``CommandSync::Main``, ``CheckParams``, ``ReadFileChunkingArgs``;
  upload_spooler_definition.cc; upload_s3.cc): checks its parameters, then uploads every file of the
  union directory ``-u`` and a catalog, and writes the next revision's manifest to ``-o``. With a
  gateway upstream (``gw,…``) it stops after the checks: the tag name ``-D`` and description ``-J``
  it received are in the log, and the double does not emulate the gateway commit.
- ``tag_edit`` (swissknife_history.cc ``CommandEditTag::Main``, ``RemoveTags``, ``AddNewTag``,
  ``ManipulateTag``, ``MoveTag``, ``CommandTag::UpdateUndoTags``): removes ``-d``, adds ``-a`` (at the
  head, or at the root catalog ``-h``; an existing tag only moves with ``-h``) with description
  ``-D`` (stored exactly as received), moves ``trunk``/``trunk-previous`` with ``-x``, uploads the
  new tag database and records its hash in the manifest ``-m``.
- ``sign`` (swissknife_sign.cc, signing_tool.cc ``SigningTool::Run``, server_tool_impl.h
  ``FetchReflog``): checks ``.cvmfsreflog`` against ``-R`` (a reflog.chksum file) or the manifest's
  ``Y``, adds the catalog and tag database to it, uploads it, rewrites ``-R``, then (unless ``-e``)
  uploads the signed ``.cvmfspublished``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
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
HEAD, PREVIOUS = "trunk", "trunk-previous"  # CommandTag::kHeadTag, kPreviousHeadTag
KNOWN_HASHES = ("sha1", "rmd160", "shake128")  # crypto/hash.cc ParseHashAlgorithm


def _text(options: Options, key: str) -> str:
    value = options[key]
    assert isinstance(value, str)
    return value


def _uint(text: str) -> int:
    """``String2Uint64``: the leading digits, 0 without any."""
    digits = ""
    for char in text:
        if not char.isdigit():
            break
        digits += char
    return int(digits or "0")


def _hash_algorithm(options: Options, unknown: str) -> None:
    algorithm = _text(options, "e") if "e" in options else "sha1"
    if algorithm not in KNOWN_HASHES:
        raise Failure(unknown)
    if algorithm != "sha1":
        raise Failure(f"the cvmfs_swissknife double only implements sha1, not {algorithm}")


def _read_manifest(path: str) -> dict[str, str]:
    try:
        return manifest_fields(host(path).read_bytes())
    except OSError:
        raise Failure("Failed to parse manifest") from None


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


def dirtab(options: Options) -> None:
    if host(_text(options, "d")).exists():  # without a .cvmfsdirtab the real one does nothing either
        raise Failure("the cvmfs_swissknife double does not emulate .cvmfsdirtab")


def sync(options: Options) -> None:
    if "S" in options:
        raise Failure("the cvmfs_swissknife double does not emulate virtual directories (-S)")
    if "v" in options and not _text(options, "v").isdigit():
        raise Failure("Swissknife Sync: Invalid revision number")
    sizes = {"l": 4 * 2**20, "a": 8 * 2**20, "h": 16 * 2**20}  # SyncParameters defaults
    if "p" in options:
        for key in ("a", "l", "h"):
            if key in options:
                sizes[key] = _uint(_text(options, key))
                if sizes[key] == 0:
                    raise Failure("Swissknife Sync: Failed to read file chunk size values", 2)
    _hash_algorithm(options, "Swissknife Sync: Unknown hash algorithm")
    if "Z" in options and _text(options, "Z") not in ("default", "zlib", "none"):
        raise Failure(f"unknown compression algorithms: {_text(options, 'Z')}", 134)  # PANIC: abort()
    for key, problem in (("s", "overlay (copy on write) directory does not exist"),
                         ("u", "union volume does not exist"),
                         ("c", "cvmfs read/only repository does not exist")):
        if not host(_text(options, key)).is_dir():
            raise Failure(problem, 2)
    if not _text(options, "w"):
        raise Failure("Stratum0 url missing", 2)
    if not host(_text(options, "t")).is_dir():
        raise Failure("data store directory does not exist", 2)
    if not sizes["l"] < sizes["a"] < sizes["h"]:
        raise Failure("file chunk size values are not sane", 2)
    definition = _text(options, "r")
    if definition.startswith("gw") and "P" not in options:
        raise Failure("Session token file has to be provided when upstream type is gw.", 2)
    spooler = Spooler.parse(definition)
    if spooler.kind == "gw":
        received = {key: options.get(key) for key in ("D", "J")}
        raise Failure("the cvmfs_swissknife double does not emulate a gateway commit; it received "
                      f"tag name/description {json.dumps(received)}")
    try:
        uploader = Uploader(spooler)
    except Failure as failure:
        raise Failure(f"{failure}\nError in parsing the spooler definition", 134) from None
    stratum0 = _text(options, "w")
    raw = http_get(f"{stratum0}/.cvmfspublished")
    if raw is None:
        raise Failure("Failed to load manifest from the Stratum 0", errno.EIO)
    base = manifest_fields(raw)
    entries: dict[str, dict[str, Any]] = {}
    for path, (entry, content) in scan(host(_text(options, "u"))).items():
        if content is not None:
            entry["hash"] = uploader.put_content(zlib.compress(content), "")
        entries[path] = entry
    revision = int(_text(options, "v")) if "v" in options else int(base["S"]) + 1
    # as a cvmfs catalog, it records its revision, its predecessor (-b) and when it was made
    record = {"entries": entries, "revision": revision, "timestamp": int(time.time()),
              "previous": _text(options, "b")}
    catalog = zlib.compress(json.dumps(record, sort_keys=True).encode())
    root_hash = uploader.put_content(catalog, "C")
    fields = replace(manifest_from(base), revision=revision, root_hash=root_hash, timestamp=int(time.time()),
                     fqrn=_text(options, "N"))
    host(_text(options, "o")).write_bytes(unsigned_manifest(fields))


def _remove_tags(options: Options, tags: list[layout.Tag]) -> list[layout.Tag]:
    condemned = _text(options, "d").split(" ")
    if any(name in (HEAD, PREVIOUS) for name in condemned):
        raise Failure("undo tags are handled internally and cannot be deleted")
    names = {tag.name for tag in tags}
    missing = [name for name in condemned if name not in names]
    if missing:
        raise Failure("\n".join(f"tag '{name}' does not exist" for name in missing))
    return [tag for tag in tags if tag.name not in condemned]


def _add_tag(options: Options, tags: list[layout.Tag], fields: dict[str, str],
             stratum0: str) -> list[layout.Tag]:
    name = _text(options, "a") if "a" in options else ""
    if " " in name:
        raise Failure("tag names must not contain spaces")
    if name in (HEAD, PREVIOUS):
        raise Failure("undo tags are managed internally")
    root = _text(options, "h") if "h" in options else fields["C"]  # GetTagRootHash
    try:
        catalog = fetch_object(stratum0, root, "C")
    except Failure:
        raise Failure(f"catalog with hash '{root}' does not exist") from None
    made = json.loads(zlib.decompress(catalog))  # the double's catalogs since sync records them
    at_head = root == fields["C"]
    template = layout.Tag(name="<template>", hash=root,
                          revision=int(made.get("revision", fields["S"] if at_head else 0)),
                          timestamp=int(made.get("timestamp", fields.get("T", "0") if at_head else 0)),
                          description=_text(options, "D") if "D" in options else "",
                          size=len(catalog), branch=_text(options, "B") if "B" in options else "")
    if name:
        old = next((tag for tag in tags if tag.name == name), None)
        if old is not None and "h" not in options:  # ManipulateTag
            raise Failure(f"a tag with the name '{name}' already exists. Do you want to move it? "
                          "(-h <root hash>)")
        if old is not None:  # MoveTag
            if old.hash == root:
                raise Failure(f"tag '{name}' already points to '{root}'")
            template = replace(template, description=template.description or old.description,
                               branch=old.branch)
            print(f"moving tag '{name}' from '{old.hash}' to '{root}'")
            tags = [tag for tag in tags if tag.name != name]
        tags = [*tags, replace(template, name=name)]
    if "x" in options:
        head = next((tag for tag in tags if tag.name == HEAD), None)
        tags = [tag for tag in tags if tag.name not in (HEAD, PREVIOUS)]
        if head is not None:
            tags.append(replace(head, name=PREVIOUS, description="default undo target"))
        tags.append(replace(template, name=HEAD, description="current HEAD"))
    return tags


def tag_edit(options: Options) -> None:
    if not any(key in options for key in ("d", "a", "x")):
        raise Failure("nothing to do")
    if "e" in options and _text(options, "e") not in KNOWN_HASHES:
        raise Failure("failed to parse hash algorithm to use\nfailed to init environment")
    if "m" not in options or "r" not in options:
        raise Failure("the cvmfs_swissknife double edits tags only with -m and -r")
    stratum0 = _text(options, "w")
    if host(_text(options, "m")).exists():
        fields = _read_manifest(_text(options, "m"))
    else:  # InitializeEnvironment: no (unsigned) manifest yet, so the Stratum 0's (`cvmfs_server tag -a`)
        raw = http_get(f"{stratum0}/.cvmfspublished")
        if raw is None:
            raise Failure("failed to load manifest file\nfailed to init environment")
        fields = manifest_fields(raw)
    tags = tags_of(stratum0, fields)
    if "d" in options:
        tags = _remove_tags(options, tags)
    if "a" in options or "x" in options:
        tags = _add_tag(options, tags, fields, stratum0)
    tag_hash = Uploader(Spooler.parse(_text(options, "r"))).put_content(layout.tag_database_bytes(tags), "H")
    fields["H"] = tag_hash
    host(_text(options, "m")).write_bytes(unsigned_manifest(manifest_from(fields)))


def _reflog(expected: str | None, name: str, stratum0: str) -> bytes | None:
    raw = http_get(f"{stratum0}/.cvmfsreflog")
    if expected is None:
        if raw is not None:
            raise Failure("no reflog hash specified but reflog is present")
        return None
    if raw is None:
        raise Failure(f"reflog for '{name}' not found but reflog checksum is present, "
                      "run `cvmfs_server check -r` to fix\nreflog missing")
    if hashlib.sha1(raw).hexdigest() != expected:
        raise Failure(f"data corruption in .cvmfsreflog for {name}, run `cvmfs_server check -r` to fix"
                      "\nreflog missing")
    return raw


def sign(options: Options) -> None:
    for key, what in (("c", "certificate"), ("k", "private key")):  # SigningTool::Run, before anything
        if key in options and not os.access(host(_text(options, key)), os.R_OK):
            raise Failure(f"failed to load {what} '{_text(options, key)}'"
                          + (" (No such file or directory)" if key == "k" else ""))
    checksum = None
    if "R" in options:
        try:
            checksum = host(_text(options, "R")).read_text().strip()
        except OSError:
            raise Failure("Could not read reflog checksum") from None
    if not host(_text(options, "t")).is_dir():
        raise Failure(f"{_text(options, 't')} does not exist")
    fields = _read_manifest(_text(options, "m"))
    name = _text(options, "n") if "n" in options else ""
    stratum0 = _text(options, "u")
    previous = _reflog(checksum if "R" in options else fields.get("Y") or None, name, stratum0)
    uploader = Uploader(Spooler.parse(_text(options, "r")))
    manifest = manifest_from(fields)
    if previous is not None:
        now = int(time.time())
        rows = [(manifest.root_hash, 0, now)]
        if manifest.tag_db_hash:
            rows.append((manifest.tag_db_hash, 2, now))
        reflog = reflog_bytes(previous, rows)
        uploader.put(".cvmfsreflog", reflog)
        manifest.reflog_hash = hashlib.sha1(reflog).hexdigest()
        if "R" in options:
            host(_text(options, "R")).write_text(manifest.reflog_hash)
    if "e" in options:
        return
    manifest = replace(manifest, fqrn=name, timestamp=int(time.time()), gc="g" in options)
    uploader.put(".cvmfspublished", layout.manifest_bytes(manifest))


COMMANDS: dict[str, Callable[[Options], None]] = {
    "dirtab": dirtab, "sync": sync, "tag_edit": tag_edit, "sign": sign}
