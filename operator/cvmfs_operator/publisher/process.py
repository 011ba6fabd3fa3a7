"""Child processes (cvmfs_server, scripts) that die with the publisher when it is cancelled.

Their output (stdout and stderr, merged) is logged line by line as it is read — redacted and
stamped with the time it was read — and the last lines are kept for the caller, bounded.
The read loop waits in ``select`` in the main thread, so SIGTERM's :class:`Cancelled` interrupts
it at once. Reading ends at end of output, or :data:`DRAIN_SECONDS` after the child exited if a
process it left behind still holds the output open.
"""

from __future__ import annotations

import collections
import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cvmfs_operator.publisher.errors import Cancelled
from cvmfs_operator.publisher.lines import Line, LineSplitter
from cvmfs_operator.publisher.log import Log

KILL_GRACE_SECONDS = 5.0
POLL_SECONDS = 0.5  # how often a silent child is checked for having exited
DRAIN_SECONDS = 2.0  # output still read after the child exited (its last words, leftovers)
READ_BYTES = 65536
DRAIN_READS = 16
OUTPUT_LINES = 50  # kept in Completed.output: enough to classify a failure from its last lines


@dataclass(frozen=True)
class Completed:
    returncode: int
    output: str  # the last OUTPUT_LINES non-blank lines, redacted, joined by newlines


class _Output:
    """Lines of one child: logged as they complete, the last ones kept."""

    def __init__(self, log: Log, source: str) -> None:
        self._log = log
        self._source = source
        self._splitter = LineSplitter()
        self._last: collections.deque[str] = collections.deque(maxlen=OUTPUT_LINES)

    def feed(self, data: bytes, at: float) -> None:
        self._write(self._splitter.feed(data), at)

    def close(self) -> None:
        self._write(self._splitter.close(), time.time())

    def text(self) -> str:
        return "\n".join(self._last)

    def _write(self, lines: list[Line], at: float) -> None:
        for line in lines:
            shown = self._log.child(self._source, line, at)
            if shown is not None:
                self._last.append(shown)


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


def _read(fd: int, output: _Output) -> bool:
    """Read what is there; False at end of output."""
    try:
        data = os.read(fd, READ_BYTES)
    except BlockingIOError:
        return True
    if not data:
        return False
    output.feed(data, time.time())
    return True


def _pump(process: subprocess.Popen[bytes], output: _Output, log: Log, source: str) -> None:
    """Log the child's output until it ends, or until the child exited and DRAIN_SECONDS passed."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    os.set_blocking(fd, False)
    exited_at: float | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            if exited_at is None and process.poll() is not None:
                exited_at = time.monotonic()
            timeout = POLL_SECONDS if exited_at is None else exited_at + DRAIN_SECONDS - time.monotonic()
            if timeout <= 0:
                log.info(f"{source} exited; a process it left behind holds its output open: "
                         "no longer reading it")
                return
            if selector.select(timeout) and not _read(fd, output):
                return


def _drain(fd: int, output: _Output) -> None:
    """What the stopped child printed last, without waiting for more (at most DRAIN_READS reads)."""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        for _ in range(DRAIN_READS):
            if not selector.select(0) or not _read(fd, output):
                return


def run(argv: Sequence[str], log: Log, source: str, *, cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        preexec: Callable[[], None] | None = None,
        user: int | None = None, group: int | None = None) -> Completed:
    """Run ``argv`` in its own session, stdin closed, output logged (redacted) as it comes."""
    output = _Output(log, source)
    process = subprocess.Popen(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        cwd=cwd, env=dict(env) if env is not None else None, start_new_session=True,
        preexec_fn=preexec, user=user, group=group, extra_groups=[] if user is not None else None,
    )
    assert process.stdout is not None
    try:
        _pump(process, output, log, source)
        returncode = process.wait()
    except Cancelled:
        _stop_group(process)
        _drain(process.stdout.fileno(), output)
        raise
    finally:
        process.stdout.close()
        output.close()
    return Completed(returncode=returncode, output=output.text())
