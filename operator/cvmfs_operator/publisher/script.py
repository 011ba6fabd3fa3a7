"""Run a script payload inside the transaction as an unprivileged user.

The script runs as ``nobody`` with ``no_new_privs`` (no set-uid escalation), a scrubbed
environment and the transaction directory as working directory (also in ``CVMFS_TRANSACTION_DIR``).
Keys (0400 root) and the S3 configuration (0600 root) are unreadable to it. The transaction
directory is handed to the script user for the run and returned to root afterwards.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

from cvmfs_operator.api.contract import ErrorClass
from cvmfs_operator.publisher import tree
from cvmfs_operator.publisher.errors import PublisherError
from cvmfs_operator.publisher.log import Log
from cvmfs_operator.publisher.process import run

SCRIPT_UID = SCRIPT_GID = 65534  # nobody / nogroup
OWNER_UID = OWNER_GID = 0  # CVMFS_USER=root owns published files
PR_SET_NO_NEW_PRIVS = 38
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _no_new_privs() -> None:
    """Runs in the child between fork and exec: set-uid binaries can no longer raise privilege."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


def environment(transaction_dir: Path, fqrn: str, path: str) -> dict[str, str]:
    return {
        "PATH": SAFE_PATH,
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "CVMFS_REPOSITORY_NAME": fqrn,
        "CVMFS_TRANSACTION_PATH": path,
        "CVMFS_TRANSACTION_DIR": str(transaction_dir),
    }


def run_script(source: str, transaction_dir: Path, fqrn: str, path: str, log: Log) -> None:
    tree.chown_tree(transaction_dir, SCRIPT_UID, SCRIPT_GID)
    try:
        result = run(
            ["/bin/bash", "-e", "-u", "-o", "pipefail", "-c", source, "payload-script"],
            log, "script", cwd=str(transaction_dir),
            env=environment(transaction_dir, fqrn, path),
            preexec=_no_new_privs, user=SCRIPT_UID, group=SCRIPT_GID,
        )
    except OSError as error:
        raise PublisherError(ErrorClass.PAYLOAD_FAILED, "payload",
                             f"cannot start the script: {error.strerror}") from None
    finally:
        tree.chown_tree(transaction_dir, OWNER_UID, OWNER_GID)
    if result.returncode != 0:
        raise PublisherError(ErrorClass.PAYLOAD_FAILED, "payload",
                             f"script failed with exit code {result.returncode}")
