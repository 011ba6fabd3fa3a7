"""What a decision asks the handler to do next: one idempotent step at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cvmfs_operator.api.types import TransactionStatus


@dataclass(frozen=True)
class SetStatus:
    status: TransactionStatus
    event: str | None = None  # a short line for the Transaction's Events
    warning: bool = False
    repository: dict[str, Any] | None = None  # Repository status fields to record with it
    # A final status of a lock holder none of whose pods runs: the lock goes to the next in line
    # after the Repository record and before this write (the next pod does not wait for it).
    hand_over: bool = False


@dataclass(frozen=True)
class AcquireLock:
    pass


@dataclass(frozen=True)
class BreakLock:
    holder: str


@dataclass(frozen=True)
class ReleaseLock:
    """Release the repository lock; with a successor, hand it over to that holder directly (one
    write instead of a delete and the next one's create, and no race among the waiters)."""

    successor: str | None = None


@dataclass(frozen=True)
class ReadStratum0:
    """Read the repository (manifest, tag) before deciding: exactly-once needs the truth."""

    reflog: bool = False  # also hash .cvmfsreflog (before a pod is started, or for the next one's)
    purpose: str = "start"  # "start" (before a pod) or "verify" (a reported publish): for metrics


@dataclass(frozen=True)
class CreatePod:
    attempt: int
    reflog_checksum: str | None = None  # handed to the publisher as reflog.chksum


@dataclass(frozen=True)
class DeletePod:
    name: str
    why: str


@dataclass(frozen=True)
class Wait:
    seconds: float


@dataclass(frozen=True)
class Done:
    pass


Action = (SetStatus | AcquireLock | BreakLock | ReleaseLock | ReadStratum0 | CreatePod | DeletePod
          | Wait | Done)
