"""Collect what the result reports while the steps run, then build the PublisherResult."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from cvmfs_operator.api.contract import (
    CONTRACT_VERSION,
    EXIT_CODES,
    ErrorClass,
    ExitCode,
    Outcome,
    PublisherResult,
    Step,
)
from cvmfs_operator.publisher.errors import Cancelled
from cvmfs_operator.publisher.log import Log


@dataclass
class Record:
    revision_before: int | None = None
    revision_after: int | None = None
    root_hash: str | None = None
    tag: str | None = None
    reflog_checksum: str | None = None
    lease_token: str | None = None
    durations: dict[str, float] = field(default_factory=dict)
    step: Step | None = None
    log: Log | None = field(default=None, repr=False, compare=False)  # logs each step's start and end

    @contextmanager
    def timing(self, step: Step) -> Iterator[None]:
        """Marks ``step`` as current and adds its wall time to the durations, even on failure."""
        self.step = step
        if self.log is not None:
            self.log.step(f"{step} started")
        ended = "failed after"
        started = time.monotonic()
        try:
            yield
            ended = "finished in"
        except Cancelled:
            ended = "cancelled after"
            raise
        finally:
            seconds = time.monotonic() - started
            self.durations[step] = round(self.durations.get(step, 0.0) + seconds, 3)
            if self.log is not None:
                self.log.step(f"{step} {ended} {seconds:.3f} s")

    def result(self, outcome: Outcome, error_class: ErrorClass | None, message: str,
               log_tail: list[str]) -> PublisherResult:
        failed = outcome != Outcome.SUCCEEDED
        return {
            "contractVersion": CONTRACT_VERSION,
            "outcome": outcome.value,
            "errorClass": error_class.value if error_class else None,
            "step": self.step if failed else None,
            "message": message,
            "revisionBefore": self.revision_before,
            "revisionAfter": self.revision_after,
            "rootHash": self.root_hash,
            "tag": self.tag,
            "reflogChecksum": self.reflog_checksum,
            "durations": dict(self.durations),
            "leaseToken": self.lease_token,
            "logTail": log_tail,
        }


def exit_code(error_class: ErrorClass | None) -> ExitCode:
    return ExitCode.SUCCEEDED if error_class is None else EXIT_CODES[error_class]
