"""TEST DOUBLE of ``cvmfs_swissknife gc`` and ``check`` (cvmfs 2.12.0 @ ae7450ec).

Parsed like every stand-in command (:mod:`tests.support.swissknife_double`); the repository objects
are read and written with the helpers of :mod:`tests.support.swissknife_maintenance_double`.

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
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable

from tests.support.cvmfs_storage_double import (
    Failure,
    Spooler,
    Uploader,
    host,
    http_get,
    manifest_fields,
    tags_of,
)
from tests.support.swissknife_maintenance_double import (
    CATALOG,
    SUFFIXES,
    Options,
    catalog_of,
    option,
    out,
    reflog_rows,
    reflog_without,
    rfc_now,
)


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
        self.verbose, self.log_path = "l" in options, option(options, "L")
        self.swept: set[str] = set()

    def sweep(self, digest: str, suffix: str) -> None:
        if digest + suffix in self.swept:
            return
        self.swept.add(digest + suffix)
        if self.verbose:
            out(f"Sweep: {digest}{suffix}")
        if self.log_path:
            with host(self.log_path).open("a") as log:
                log.write(f"{digest}{suffix}\n")
        if not self.dry_run:
            self.uploader.delete(f"data/{digest[:2]}/{digest[2:]}{suffix}")


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
        checksum = host(option(options, "R")).read_text().strip()
    except OSError:
        raise Failure("Could not read reflog checksum") from None
    depth = _int64(option(options, "h")) if "h" in options else None
    since = _int64(option(options, "z")) if "z" in options else None
    if depth is None and since is None:
        raise Failure("neither a timestamp nor history threshold given")
    stratum0, name = option(options, "r"), option(options, "n")
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
    uploader = Uploader(Spooler.parse(option(options, "u")))
    sweeper = _Sweeper(options, uploader)
    rows = reflog_rows(reflog)
    added = {digest: stamp for digest, kind, stamp in rows if kind == CATALOG}
    out(f"  --> marking unreferenced objects [{rfc_now()}]")
    heads = _preserved_heads(stratum0, fields["C"], depth, since, added)
    preserved_catalogs = {*heads, *(t.hash for t in tags_of(stratum0, fields))}
    preserved = set(preserved_catalogs)
    for digest in preserved_catalogs:
        preserved |= _referenced(stratum0, digest)
    oldest = min(added.get(digest, 0) for digest in heads)
    out(f"  --> sweeping unreferenced objects [{rfc_now()}]")
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
    out(f"  --> done garbage collecting [{rfc_now()}]")
    if "d" in options:
        return
    new_reflog = reflog_without(reflog, condemned)
    uploader.put(".cvmfsreflog", new_reflog)
    host(option(options, "R")).write_text(hashlib.sha1(new_reflog).hexdigest())


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
        expected = host(option(options, "R")).read_text().strip()
    except OSError:
        raise Failure("failed to read reflog checksum file") from None
    out("Inspecting log of references")
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
    stratum0 = option(options, "r")
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
        tag_name = option(options, "n")
        if not fields.get("H"):
            raise Failure("no history")
        tag = next((t for t in tags_of(stratum0, fields) if t.name == tag_name), None)
        if tag is None:
            raise Failure(f"no such tag: {tag_name}")
        root = tag.hash
        out(f"Inspecting repository tag {tag_name}")
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
    out("no problems found")


COMMANDS: dict[str, Callable[[Options], None]] = {"gc": gc, "check": check}
