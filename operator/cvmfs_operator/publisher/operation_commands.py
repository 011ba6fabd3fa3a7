"""The ``cvmfs_server`` command line of each repository operation, and how its failures are classified.

Command lines (cvmfs 2.12.0; every value passed validation first, see operation_validate):

- create:   ``mkfs -u S3,<spool>/tmp,<prefix>@/etc/cvmfs/s3/<fqrn>.conf -w <stratum0Url> -o root
  -k /etc/cvmfs/keys -p [-z] [-g] -a <hash> -Z <compression> <fqrn>`` — ``-u`` and no ``-s``, so the
  Stratum 0 URL is taken verbatim and the key prefix is the one given (as for publishing); mkfs
  always signs a 30-day whitelist, so another ``whitelistDays`` adds ``resign -d <days> [-f] <fqrn>``;
- rollback: ``rollback -t <tag> -f <fqrn>``;
- tag:      ``tag -a <name> [-m <description>] [-h <root hash>] <fqrn>`` (add; move always with
  ``-h``: the revision's root hash, or the head's) / ``tag -r <name> -f <fqrn>`` (remove);
- resign:   ``resign -d <days> [-f] <fqrn>`` (``-f`` beyond 30 days, where the script would ask);
- gc:       ``gc -f [-r <n> | -t @<unix seconds>] [-d] -L <deletion log> <fqrn>``;
- check:    ``check [-c] [-r] [-t <tag>] <fqrn>``.

``-f`` wherever the script would otherwise ask (stdin is closed: no answer is "no").
"""

from __future__ import annotations

from cvmfs_operator.api import contract
from cvmfs_operator.api.operation_contract import (
    DEFAULT_WHITELIST_DAYS,
    OperationConfig,
    OperationErrorClass,
    OperationKind,
)
from cvmfs_operator.publisher import cvmfs
from cvmfs_operator.publisher.operation_errors import OperationError
from cvmfs_operator.publisher.operation_validate import keep_since
from cvmfs_operator.publisher.paths import Layout
from cvmfs_operator.publisher.process import Completed

E = OperationErrorClass

# Substrings of cvmfs_server's output (scripts and swissknife, 2.12.0) and what they mean.
_COMMON: tuple[tuple[str, OperationErrorClass], ...] = (
    *((refusal, E.REFLOG_MISMATCH) for refusal in cvmfs.REFLOG_REFUSALS),
    ("while in a transaction", E.BUSY),  # tag
    ("Cannot rollback a repository in a transaction", E.BUSY),
    ("Cannot run garbage collection while in a transaction", E.BUSY),
    ("Failed to acquire gc lock", E.BUSY),
    ("is currently being published", E.BUSY),
)
_BY_KIND: dict[OperationKind, tuple[tuple[str, OperationErrorClass], ...]] = {
    "rollback": (("Target tag '", E.NOT_FOUND), ("More than one anonymous undo rollback", E.NOT_FOUND),
                 ("undo tags are", E.NOT_ALLOWED)),
    "tag": (("does not exist", E.NOT_FOUND), ("undo tags are", E.NOT_ALLOWED),
            ("already exists", E.ALREADY_EXISTS), ("already points to", E.ALREADY_EXISTS)),
    "gc": (("Garbage Collection is not enabled", E.NOT_ALLOWED),
           ("repository does not allow garbage collection", E.NOT_ALLOWED)),
    "check": (("no such tag", E.NOT_FOUND), ("CATALOG PROBLEMS OR OTHER ERRORS FOUND", E.CHECK_FAILED),
              ("failed to verify reflog", E.CHECK_FAILED), ("aborting", E.CHECK_FAILED),
              ("unexpected content hash", E.CHECK_FAILED)),
    "resign": (("Neither masterkey nor masterkeycard", E.INVALID_INPUT),),
    "create": (),
}

# Lines of `check` that report a problem (swissknife_check.cc) rather than progress.
CHECK_FINDINGS = ("missing", "differ", "failed", "unexpected", "mismatch", "invalid", "aborting", "not found",
                  "no such tag", "dangling")


def deletion_log(layout: Layout) -> str:
    """gc's ``-L`` file: in the spool volume, outside the repository's ``tmp/`` (wiped on close)."""
    return f"{contract.SPOOL_DIR}/gc-deletions.{layout.fqrn}.log"


def _resign(days: int, fqrn: str) -> list[str]:
    return ["resign", "-d", str(days), *(["-f"] if days > DEFAULT_WHITELIST_DAYS else []), fqrn]


def commands(config: OperationConfig, layout: Layout, root_hash: str | None = None) -> list[list[str]]:
    """The ``cvmfs_server`` argument lists, in order; ``root_hash``: a tag add/move's ``-h``."""
    kind, fqrn = config["operation"], config["fqrn"]
    if kind == "create":
        settings = config.get("settings", {})
        upstream = f"S3,{layout.spool}/tmp,{config['s3']['prefix']}@{layout.s3_config}"
        args = ["mkfs", "-u", upstream, "-w", config["stratum0Url"], "-o", "root", "-k", layout.keys_dir,
                "-p"]
        args += ["-z"] if settings.get("garbageCollection", False) else []
        args += [] if settings.get("autoTag", True) else ["-g"]
        args += ["-a", settings.get("hashAlgorithm", "sha1"),
                 "-Z", settings.get("compressionAlgorithm", "default")]
        days = config.get("create", {}).get("whitelistDays", DEFAULT_WHITELIST_DAYS)
        return [[*args, fqrn], *([_resign(days, fqrn)] if days != DEFAULT_WHITELIST_DAYS else [])]
    if kind == "rollback":
        return [["rollback", "-t", config["rollback"]["tag"], "-f", fqrn]]
    if kind == "tag":
        tag = config["tag"]
        if tag["action"] == "remove":
            return [["tag", "-r", tag["name"], "-f", fqrn]]
        description = tag.get("description", "")
        return [["tag", "-a", tag["name"], *(["-m", description] if description else []),
                 *(["-h", root_hash] if root_hash else []), fqrn]]
    if kind == "resign":
        return [_resign(config.get("resign", {}).get("whitelistDays", DEFAULT_WHITELIST_DAYS), fqrn)]
    if kind == "gc":
        gc = config.get("gc", {})
        args = ["gc", "-f"]
        if "keepRevisions" in gc:
            args += ["-r", str(gc["keepRevisions"])]
        if "keepSince" in gc:
            args += ["-t", f"@{keep_since(gc['keepSince'])}"]
        args += ["-d"] if gc.get("dryRun", False) else []
        return [[*args, "-L", deletion_log(layout), fqrn]]
    check = config.get("check", {})
    args = ["check"]
    args += [] if check.get("chunks", True) else ["-c"]
    args += ["-r"] if check.get("repairReflog", False) else []
    args += ["-t", check["tag"]] if "tag" in check else []
    return [[*args, fqrn]]


def classify(kind: OperationKind, completed: Completed) -> OperationError:
    """The failure of ``cvmfs_server`` (exit code ≠ 0), by what it printed."""
    lines = [line.strip() for line in completed.output.splitlines() if line.strip()]
    error_class = E.OPERATION_FAILED
    shown = next((line for line in reversed(lines) if not line.startswith("Executed Command")), "no output")
    for needle, found in (*_BY_KIND[kind], *_COMMON):
        matching = [line for line in lines if needle in line]
        if matching:
            error_class, shown = found, matching[0]  # the reason, not the script's closing words
            break
    if kind == "check" and error_class == E.CHECK_FAILED:
        problems = findings(completed.output)
        shown = problems[0] if problems else shown
    verb = kind_verb(kind)
    return OperationError(error_class, "operate",
                          f"cvmfs_server {verb} failed with exit code {completed.returncode}: {shown[:300]}")


def findings(output: str) -> list[str]:
    """The problem lines ``check`` printed (at most 10)."""
    lines = [line.strip() for line in output.splitlines()]
    return [line for line in lines if any(word in line for word in CHECK_FINDINGS)][:10]


def kind_verb(kind: OperationKind) -> str:
    return "mkfs" if kind == "create" else kind
