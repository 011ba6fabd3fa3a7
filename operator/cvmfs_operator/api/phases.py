"""Transaction phases, the one table of allowed transitions, and conditions derived from a phase."""

from __future__ import annotations

import enum

from cvmfs_operator.api.types import Condition


class Phase(enum.StrEnum):
    PENDING = "Pending"  # accepted, waiting for something outside the queue (e.g. the Repository)
    QUEUED = "Queued"  # waiting behind other Transactions of the same repository
    RUNNING = "Running"  # holds the repository lock; a publisher pod exists or is being (re)started
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED})

TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.PENDING: frozenset({Phase.PENDING, Phase.QUEUED, Phase.RUNNING, Phase.FAILED, Phase.CANCELLED,
                              Phase.SUCCEEDED}),
    Phase.QUEUED: frozenset({Phase.QUEUED, Phase.PENDING, Phase.RUNNING, Phase.FAILED, Phase.CANCELLED,
                             Phase.SUCCEEDED}),
    Phase.RUNNING: frozenset({Phase.RUNNING, Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED}),
    Phase.SUCCEEDED: frozenset({Phase.SUCCEEDED}),
    Phase.FAILED: frozenset({Phase.FAILED}),
    Phase.CANCELLED: frozenset({Phase.CANCELLED}),
}


class IllegalTransition(ValueError):
    pass


def parse(value: str | None) -> Phase:
    """The phase in a status; an absent phase is Pending (a Transaction just accepted)."""
    if not value:
        return Phase.PENDING
    try:
        return Phase(value)
    except ValueError:
        raise IllegalTransition(f"unknown phase {value!r} in status") from None


def check_transition(old: Phase, new: Phase) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"a Transaction cannot go from {old} to {new}")


def _condition(kind: str, status: bool, reason: str, message: str, now: str, generation: int | None,
               previous: list[Condition]) -> Condition:
    value: str = "True" if status else "False"
    since = now
    for old in previous:
        if old["type"] == kind and old["status"] == value:
            since = old["lastTransitionTime"]
    condition: Condition = {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition


def conditions(phase: Phase, reason: str, message: str, *, now: str, generation: int | None,
               previous: list[Condition] | None = None) -> list[Condition]:
    """kstatus conditions for a phase: Ready, Reconciling, Stalled, plus Published.

    * Ready: True only when Succeeded.
    * Reconciling: True while the operator still works on it (Pending, Queued, Running).
    * Stalled: True when it ended without success (Failed, Cancelled): no further progress.
    * Published: True when the repository holds this Transaction's tag.
    """
    prior = previous or []
    ready = phase is Phase.SUCCEEDED
    reconciling = not phase.terminal
    stalled = phase in (Phase.FAILED, Phase.CANCELLED)
    text = message or str(phase)
    return [
        _condition("Ready", ready, reason or str(phase), text, now, generation, prior),
        _condition("Reconciling", reconciling, reason or str(phase), text if reconciling else "", now,
                   generation, prior),
        _condition("Stalled", stalled, reason or str(phase), text if stalled else "", now, generation, prior),
        _condition("Published", ready, reason or str(phase), text if ready else "", now, generation, prior),
    ]
