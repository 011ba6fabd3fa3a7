"""The status a decision wants written: fields, kstatus conditions, observedGeneration, duration."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from cvmfs_operator.api import phases
from cvmfs_operator.api.phases import Phase
from cvmfs_operator.api.types import TransactionStatus
from cvmfs_operator.reconcile.actions import SetStatus
from cvmfs_operator.reconcile.observed import Observed, parse_time, rfc3339
from cvmfs_operator.render import transaction as effective


@dataclass(frozen=True)
class Desired:
    phase: Phase
    reason: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)


def unconfirmed(pod: str, reported: str, error: str) -> Desired:
    """A pod reported success, but the repository cannot be read now to confirm it: still
    Running (either kind), looked at again later."""
    return Desired(Phase.RUNNING, "Verifying",
                   f"{pod} reported {reported}; cannot read the repository to confirm it: {error}")


def contradicted(message: str, *, now: datetime.datetime, pod: str, log_tail: list[str]) -> Desired:
    """A pod reported success that the repository does not show (either kind): Failed, and
    nothing of its result is recorded."""
    return Desired(Phase.FAILED, "VerificationFailed", message,
                   {"completionTime": rfc3339(now), "podName": pod, "logTail": log_tail})


def status_for(obs: Observed, want: Desired) -> TransactionStatus:
    txn = obs.transaction
    current = txn.get("status", {})
    generation = txn["metadata"].get("generation")
    status: dict[str, Any] = {
        "phase": want.phase.value,
        "reason": want.reason,
        "message": want.message,
        "conditions": phases.conditions(want.phase, want.reason, want.message, now=rfc3339(obs.now),
                                        generation=generation, previous=current.get("conditions")),
    }
    if generation is not None:
        status["observedGeneration"] = generation
    spec: Any = txn.get("spec")
    if isinstance(spec, dict) and isinstance(spec.get("tag", {}), dict):  # absent only if malformed
        status["tag"] = effective.effective_tag(txn)
    status.update(want.fields)
    started = parse_time(status.get("startTime") or current.get("startTime"))
    finished = parse_time(status.get("completionTime"))
    if started is not None and finished is not None:
        status["duration"] = go_duration(max(0.0, (finished - started).total_seconds()))
    return status  # type: ignore[return-value]


def go_duration(seconds: float) -> str:
    """A duration as Go and kubectl print it: 45s, 2m13s, 1h2m3s."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def differs(current: TransactionStatus, desired: TransactionStatus) -> bool:
    for key, value in desired.items():
        if key == "conditions":
            old = {(c["type"], c["status"], c["reason"], c["message"]) for c in current.get("conditions", [])}
            new = {(c["type"], c["status"], c["reason"], c["message"]) for c in desired.get("conditions", [])}
            if old != new:
                return True
        elif current.get(key) != value:
            return True
    return False


def set_status(obs: Observed, want: Desired, event: str | None = None, *, warning: bool = False,
         repository: dict[str, Any] | None = None) -> SetStatus | None:
    current = obs.transaction.get("status", {})
    phases.check_transition(phases.parse(current.get("phase")), want.phase)
    desired = status_for(obs, want)
    if not differs(current, desired):
        return None
    return SetStatus(desired, event, warning, repository)
