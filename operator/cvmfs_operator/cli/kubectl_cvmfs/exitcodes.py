"""Exit codes of ``kubectl cvmfs``, by outcome (documented in docs/cli.md)."""

from __future__ import annotations

import enum


class Exit(enum.IntEnum):
    SUCCEEDED = 0  # the Transaction Succeeded (published, or AlreadyPublished); a command worked
    FAILED = 1  # the Transaction Failed
    USAGE = 2  # bad arguments or local input (no such directory, special files, not implemented)
    CANCELLED = 3  # the Transaction was Cancelled or deleted while we waited
    TIMEOUT = 4  # --timeout passed before the Transaction finished (it keeps going)
    CLUSTER = 5  # the Kubernetes API refused or could not be reached (kubeconfig, RBAC, network)
    NOT_FOUND = 6  # the Transaction or Repository does not exist
    STAGING = 7  # the tarball could not be staged (S3 credentials, bucket, network)
    DETACHED = 130  # Ctrl-C: stopped following; the Transaction keeps going


TERMINAL = {"Succeeded": Exit.SUCCEEDED, "Failed": Exit.FAILED, "Cancelled": Exit.CANCELLED}


def for_phase(phase: str | None) -> Exit | None:
    """The exit code of a finished Transaction; None while it is not finished."""
    return TERMINAL.get(phase or "")
