"""What the operator observed about one Transaction: plain data the decisions are made from."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cvmfs_operator.api.types import Repository, Transaction
from cvmfs_operator.render import names


@dataclass(frozen=True)
class PodView:
    """The facts about a publisher pod that matter to decisions."""

    name: str
    attempt: int
    phase: str  # Pending, Running, Succeeded, Failed, Unknown
    reason: str | None = None  # pod-level reason, e.g. DeadlineExceeded, Evicted
    message: str | None = None
    exit_code: int | None = None
    container_reason: str | None = None  # e.g. OOMKilled, Error, Completed
    termination_message: str | None = None
    created: datetime.datetime | None = None
    deleting: bool = False
    stage_exit_code: int | None = None  # the unprivileged stage init container, when it ended
    stage_message: str | None = None
    started: datetime.datetime | None = None  # the publisher container's start (kubelet's clock)
    finished: datetime.datetime | None = None  # and its end

    @property
    def terminated(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


@dataclass(frozen=True)
class QueueEntry:
    """A not-yet-finished Transaction (or RepositoryOperation) of a repository, as ordered in its
    FIFO queue."""

    created: str  # RFC 3339 creationTimestamp; sorts chronologically as text
    namespace: str
    name: str
    uid: str
    queued: bool = True  # in phase Queued: waiting for the lock only (not Pending on its Repository)
    operation: bool = False  # a RepositoryOperation (the Repository's activeTransaction names neither)

    def ref(self) -> dict[str, str]:
        """As the Repository's status.activeTransaction names it."""
        return {"namespace": self.namespace, "name": self.name, "uid": self.uid}

    @property
    def holder(self) -> str:
        return names.holder_identity(self.namespace, self.name, self.uid)

    def sort_key(self) -> tuple[str, str, str]:
        return (self.created, self.namespace, self.name)


@dataclass(frozen=True)
class Stratum0View:
    """What the repository itself says about this Transaction's tag (read from S3 or HTTP)."""

    revision: int | None = None
    root_hash: str | None = None
    reflog_hash: str | None = None
    tag_revision: int | None = None  # revision the tag points to; None if the tag is absent
    tag_hash: str | None = None
    error: str | None = None  # why the repository could not be read
    reflog_read: bool = False  # whether bucket_reflog was read (only before starting a pod)
    read_seconds: float | None = None  # how long reading the repository took
    bucket_reflog: str | None = None  # hash of the bucket's .cvmfsreflog; None when it has none
    # (object name, bytes) of the tag database read with it: the lock's next holder looks its own
    # tag up in it (handlers/handover.py). Compared by neither equality nor repr.
    tag_database: tuple[str, bytes] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Observed:
    transaction: Transaction
    repository: Repository | None
    lock_holder: str | None  # holderIdentity of the repository Lease; None when free
    lock_age: float | None  # seconds since the Lease was acquired
    holder_alive: bool  # the holder is an unfinished Transaction or still has a live pod
    pods: Sequence[PodView]
    queue: Sequence[QueueEntry]  # unfinished Transactions of the same repository
    now: datetime.datetime
    reconcile_interval: float
    stratum0: Stratum0View | None = None  # read only when a decision needs it
    stale_lock_seconds: float = 60.0  # a lock whose holder is gone is broken only after this long
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def me(self) -> str:
        meta = self.transaction["metadata"]
        return names.holder_identity(meta["namespace"], meta["name"], meta["uid"])

    @property
    def holds_lock(self) -> bool:
        return self.lock_holder == self.me

    @property
    def subject(self) -> Transaction:
        return self.transaction

    @property
    def fqrn(self) -> str:
        return str(self.transaction["spec"].get("repository", ""))


def queue_length(queue: Sequence[QueueEntry], running_uid: str | None) -> int:
    """Transactions of a repository that wait: every unfinished one except the one publishing."""
    return sum(1 for entry in queue if entry.uid != running_uid)


def rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime.datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def pod_view(pod: Mapping[str, Any], attempt_label: str, container_name: str = "publisher") -> PodView:
    """Read a Pod manifest (as the API returns it) into the facts decisions use (``container_name``:
    the container whose end is the attempt's, "operation" in an operation pod)."""
    meta = pod.get("metadata", {})
    status = pod.get("status") or {}
    try:
        attempt = int((meta.get("labels") or {}).get(attempt_label, "0"))
    except ValueError:
        attempt = 0
    exit_code: int | None = None
    container_reason: str | None = None
    message: str | None = None
    started: datetime.datetime | None = None
    finished: datetime.datetime | None = None
    for container in status.get("containerStatuses") or []:
        if container.get("name") != container_name:
            continue
        state = container.get("state") or {}
        terminated = state.get("terminated")
        started = parse_time((terminated or state.get("running") or {}).get("startedAt"))
        if terminated:
            exit_code = terminated.get("exitCode")
            container_reason = terminated.get("reason")
            message = terminated.get("message")
            finished = parse_time(terminated.get("finishedAt"))
    stage_exit_code: int | None = None
    stage_message: str | None = None
    for container in status.get("initContainerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated")
        if container.get("name") == "stage" and terminated:
            stage_exit_code = terminated.get("exitCode")
            stage_message = terminated.get("message")
    return PodView(
        name=str(meta.get("name", "")),
        attempt=attempt,
        phase=str(status.get("phase") or "Pending"),
        reason=status.get("reason"),
        message=status.get("message"),
        exit_code=exit_code,
        container_reason=container_reason,
        termination_message=message,
        created=parse_time(meta.get("creationTimestamp")),
        deleting=bool(meta.get("deletionTimestamp")),
        stage_exit_code=stage_exit_code,
        started=started,
        finished=finished,
        stage_message=stage_message,
    )
