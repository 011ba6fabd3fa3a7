"""The live view: follow a Transaction until it finishes, its publisher pod's log streamed.

The Transaction's status is polled (one GET per interval, which any RBAC that lets a release
manager read Transactions allows); each change is printed as one line with the time since we
started following. While a publisher pod runs, its log is streamed through the pods ``log``
subresource in a thread, each line prefixed with ``|``. Publisher pods live in the operator's
namespace: without permission to read their logs, the view says so once and prints the log tail
the operator recorded in the status at the end.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from cvmfs_operator.api.types import Transaction
from cvmfs_operator.cli.kubectl_cvmfs import exitcodes, render
from cvmfs_operator.cli.kubectl_cvmfs.exitcodes import Exit
from cvmfs_operator.clients import release
from cvmfs_operator.clients.errors import Forbidden, KubeError, NotFound
from cvmfs_operator.clients.kube import KubeClient


@dataclass
class Console:
    """Lines to a stream, one writer at a time (the log thread prints too), colour if a terminal."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    colour: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def line(self, text: str) -> None:
        with self.lock:
            self.out.write(text + "\n")
            self.out.flush()

    def dim(self, text: str) -> str:
        return render.colour(text, "2", self.colour)


class LogStream:
    """Streams one pod's log into the console until the container ends or ``stop()``."""

    def __init__(self, kube: KubeClient, namespace: str, pod: str, console: Console) -> None:
        self.kube, self.namespace, self.pod, self.console = kube, namespace, pod, console
        self.stopped = threading.Event()
        self.lines = 0
        self.forbidden = False
        self.thread = threading.Thread(target=self._run, name=f"log-{pod}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, wait: float) -> None:
        """Let the stream drain for up to ``wait`` seconds, then stop reading."""
        self.thread.join(timeout=wait)
        self.stopped.set()

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                for line in release.pod_log(self.kube, self.namespace, self.pod, follow=True):
                    self.lines += 1
                    self.console.line(self.console.dim("| ") + line)
                    if self.stopped.is_set():
                        return
                return  # the container ended
            except Forbidden:
                self.forbidden = True
                self.console.line(f"(no permission to read pod logs in namespace {self.namespace}: "
                                  "the log tail follows at the end; ask for get on pods/log there)")
                return
            except NotFound:
                return  # the pod is gone
            except KubeError:
                self.stopped.wait(0.5)  # not started yet (400) or the stream broke: try again


@dataclass
class Follower:
    kube: KubeClient
    namespace: str
    name: str
    console: Console
    operator_namespace: str
    logs: bool = True
    interval: float = 0.5
    clock: Callable[[], float] = time.monotonic
    streams: dict[str, LogStream] = field(default_factory=dict)

    def run(self, timeout: float | None = None) -> tuple[Exit, Transaction | None]:
        """Follow until finished (its exit code), gone (CANCELLED) or ``timeout`` (TIMEOUT).
        KeyboardInterrupt propagates to the caller, which decides whether to cancel."""
        start = self.clock()
        last: dict[str, Any] | None = None
        while True:
            txn = self.kube.get_transaction(self.namespace, self.name)
            if txn is None:
                self.console.line(f"{self._stamp(start)}  Transaction {self.namespace}/{self.name} "
                                  "was deleted")
                self._close(0.0)
                return Exit.CANCELLED, None
            status: dict[str, Any] = dict(txn.get("status") or {})
            if (text := render.change(last, status, self.console.colour)) is not None:
                self.console.line(f"{self._stamp(start)}  {text}")
            last = status
            pod = status.get("podName")
            if self.logs and pod and pod not in self.streams and status.get("phase") == "Running":
                stream = LogStream(self.kube, self.operator_namespace, str(pod), self.console)
                self.streams[str(pod)] = stream
                stream.start()
            code = exitcodes.for_phase(status.get("phase"))
            if code is not None:
                self._close(5.0)
                if self.logs and not any(s.lines for s in self.streams.values()):
                    for line in status.get("logTail") or []:
                        self.console.line(self.console.dim("| ") + str(line))
                return code, txn
            if timeout is not None and self.clock() - start > timeout:
                self._close(0.0)
                return Exit.TIMEOUT, txn
            time.sleep(self.interval)

    def _close(self, wait: float) -> None:
        for stream in self.streams.values():
            stream.stop(wait)

    def _stamp(self, start: float) -> str:
        return self.console.dim(f"{self.clock() - start:7.1f}s")
