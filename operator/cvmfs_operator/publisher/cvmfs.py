"""The ``cvmfs_server`` verbs the publisher uses, each failure classified by its exit code."""

from __future__ import annotations

import errno
from collections.abc import Callable

from cvmfs_operator.api.contract import ErrorClass, Step
from cvmfs_operator.publisher.errors import PublisherError
from cvmfs_operator.publisher.log import Log
from cvmfs_operator.publisher.process import Completed, run

CVMFS_SERVER = "cvmfs_server"  # found on PATH (tests put the double first)


def _last_line(result: Completed) -> str:
    lines = [line.strip() for line in result.output.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def _call(args: list[str], log: Log, step: Step,
          classify: Callable[[int, str], ErrorClass]) -> Completed:
    log.info(f"running {CVMFS_SERVER} {' '.join(args)}")
    try:
        result = run([CVMFS_SERVER, *args], log, CVMFS_SERVER)
    except OSError as error:
        message = f"cannot run {CVMFS_SERVER}: {error.strerror}"
        raise PublisherError(ErrorClass.INTERNAL, step, message) from None
    if result.returncode != 0:
        detail = log.redact(_last_line(result))
        message = f"{CVMFS_SERVER} {args[0]} failed with exit code {result.returncode}: {detail}"
        raise PublisherError(classify(result.returncode, result.output), step, message)
    return result


def mount(fqrn: str, log: Log) -> None:
    _call(["mount", fqrn], log, "mount", _always(ErrorClass.ATTACH_FAILED))


def transaction(fqrn: str, lease_path: str | None, log: Log) -> None:
    """Open the transaction; with a gateway, ``lease_path`` (no leading ``/``) takes a lease.

    Exit codes per cvmfs_publish (CVMFS.md §3.1): EEXIST already in a transaction, EBUSY lease
    busy -> Busy; ENOENT/ENOTDIR lease parent missing -> InvalidInput; anything else -> AttachFailed.
    """
    target = f"{fqrn}/{lease_path}" if lease_path else fqrn
    _call(["transaction", target], log, "transaction", _classify_transaction)


def _classify_transaction(code: int, output: str) -> ErrorClass:
    if code in (errno.EEXIST, errno.EBUSY):
        return ErrorClass.BUSY
    if code in (errno.ENOENT, errno.ENOTDIR):
        return ErrorClass.INVALID_INPUT
    return ErrorClass.ATTACH_FAILED


def _always(error_class: ErrorClass) -> Callable[[int, str], ErrorClass]:
    return lambda code, output: error_class


# What `cvmfs_swissknife sign` prints when the bucket's .cvmfsreflog is not the one reflog.chksum
# (or the manifest's Y) names (CVMFS.md §1.8; cvmfs/server_tool_impl.h, signing_tool.cc).
REFLOG_REFUSALS = (
    "data corruption in .cvmfsreflog",
    "not found but reflog checksum is present",
    "no reflog hash specified but reflog is present",
    "Could not read reflog checksum",
)


def _classify_publish(code: int, output: str) -> ErrorClass:
    if any(refusal in output for refusal in REFLOG_REFUSALS):
        return ErrorClass.REFLOG_MISMATCH
    return ErrorClass.PUBLISH_FAILED


def publish(fqrn: str, tag: str, description: str, log: Log) -> None:
    """``description`` must already be inert (api.inert): cvmfs_server runs it through ``sh -c``."""
    # -f: no interactive dialog about open file descriptors (forces a lazy remount instead).
    args = ["publish", "-f", "-a", tag, "-m", description, fqrn]
    _call(args, log, "publish", _classify_publish)


def abort(fqrn: str, log: Log) -> None:
    _call(["abort", "-f", fqrn], log, "abort", _always(ErrorClass.INTERNAL))

