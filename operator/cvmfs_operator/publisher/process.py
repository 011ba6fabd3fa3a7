"""Child processes (cvmfs_server, scripts) that die with the publisher when it is cancelled."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cvmfs_operator.publisher.errors import Cancelled
from cvmfs_operator.publisher.log import Log

KILL_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class Completed:
    returncode: int
    output: str


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the child's process group, then SIGKILL it if it lingers."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, KILL_GRACE_SECONDS)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(argv: Sequence[str], log: Log, source: str, *, cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        preexec: Callable[[], None] | None = None,
        user: int | None = None, group: int | None = None) -> Completed:
    """Run ``argv`` in its own session, stdin closed, output logged (redacted) when it ends."""
    process = subprocess.Popen(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        cwd=cwd, env=dict(env) if env is not None else None, start_new_session=True,
        preexec_fn=preexec, user=user, group=group, extra_groups=[] if user is not None else None,
    )
    try:
        raw, _ = process.communicate()
    except Cancelled:
        _stop_group(process)
        raise
    output = raw.decode(errors="replace")
    log.output(source, output)
    return Completed(returncode=process.returncode, output=output)
