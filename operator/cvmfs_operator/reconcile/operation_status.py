"""What a RepositoryOperation's decision observed, and the status it wants written (pure).

The same phases, transition table and kstatus conditions as a Transaction (api/phases.py), without
``Published`` (an operation publishes no tag) and with ``status.operation`` written from the first
status on (the Operation printer column).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from cvmfs_operator.api import operations, phases
from cvmfs_operator.api.types import Repository, RepositoryOperation, TransactionStatus
from cvmfs_operator.reconcile.actions import SetStatus
from cvmfs_operator.reconcile.observed import PodView, QueueEntry, Stratum0View, parse_time, rfc3339
from cvmfs_operator.reconcile.status import Desired, differs, go_duration
from cvmfs_operator.render import names

OPERATION_CONDITIONS = ("Ready", "Reconciling", "Stalled")


@dataclass(frozen=True)
class OperationObserved:
    operation: RepositoryOperation
    repository: Repository | None
    lock_holder: str | None  # holderIdentity of the repository Lease; None when free
    lock_age: float | None
    holder_alive: bool  # the holder is an unfinished Transaction or operation, or has a live pod
    pods: Sequence[PodView]
    queue: Sequence[QueueEntry]  # unfinished Transactions and operations of the repository
    now: datetime.datetime
    reconcile_interval: float
    operator_namespace: str
    stratum0: Stratum0View | None = None  # the repository read just before a pod starts
    stale_lock_seconds: float = 60.0

    @property
    def me(self) -> str:
        meta = self.operation["metadata"]
        return names.holder_identity(meta["namespace"], meta["name"], meta["uid"])

    @property
    def holds_lock(self) -> bool:
        return self.lock_holder == self.me

    @property
    def subject(self) -> RepositoryOperation:
        return self.operation

    @property
    def kind(self) -> str:
        return operations.operation_kind(self.operation) or ""

    @property
    def fqrn(self) -> str:
        return str(self.operation["spec"].get("repository", ""))


def status_for(obs: OperationObserved, want: Desired) -> dict[str, Any]:
    op = obs.operation
    current: dict[str, Any] = dict(op.get("status") or {})
    generation = op["metadata"].get("generation")
    conditions = phases.conditions(want.phase, want.reason, want.message, now=rfc3339(obs.now),
                                   generation=generation, previous=current.get("conditions"))
    status: dict[str, Any] = {
        "phase": want.phase.value,
        "reason": want.reason,
        "message": want.message,
        "conditions": [c for c in conditions if c["type"] in OPERATION_CONDITIONS],
    }
    if obs.kind:
        status["operation"] = obs.kind
    if generation is not None:
        status["observedGeneration"] = generation
    status.update(want.fields)
    started = parse_time(status.get("startTime") or current.get("startTime"))
    finished = parse_time(status.get("completionTime"))
    if started is not None and finished is not None:
        status["duration"] = go_duration(max(0.0, (finished - started).total_seconds()))
    return status


def set_status(obs: OperationObserved, want: Desired, event: str | None = None, *, warning: bool = False,
               repository: dict[str, Any] | None = None) -> SetStatus | None:
    current: dict[str, Any] = dict(obs.operation.get("status") or {})
    phases.check_transition(phases.parse(current.get("phase")), want.phase)
    desired = status_for(obs, want)
    if not differs(cast(TransactionStatus, current), cast(TransactionStatus, desired)):
        return None
    return SetStatus(cast(TransactionStatus, desired), event, warning, repository)


def record(obs: OperationObserved, result: str) -> dict[str, str]:
    """A Repository's ``lastGC`` / ``lastCheck`` / ``lastResign`` entry for this operation."""
    meta = obs.operation["metadata"]
    return {"time": rfc3339(obs.now), "result": result, "operation": f"{meta['namespace']}/{meta['name']}"}


RECORD_FIELD = {"gc": "lastGC", "check": "lastCheck", "resign": "lastResign"}
