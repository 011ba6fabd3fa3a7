"""The phase transition table and the conditions derived from a phase."""

from __future__ import annotations

import itertools

import pytest

from cvmfs_operator.api import phases
from cvmfs_operator.api.phases import IllegalTransition, Phase
from cvmfs_operator.api.types import Condition

P, Q, R, S, F, C = (Phase.PENDING, Phase.QUEUED, Phase.RUNNING, Phase.SUCCEEDED, Phase.FAILED,
                    Phase.CANCELLED)

# docs/api.md "Phases", written out here; staying in a phase is always allowed.
ALLOWED: set[tuple[Phase, Phase]] = {
    (P, P), (P, Q), (P, R), (P, S), (P, F), (P, C),
    (Q, Q), (Q, P), (Q, R), (Q, S), (Q, F), (Q, C),
    (R, R), (R, S), (R, F), (R, C),
    (S, S), (F, F), (C, C),
}
ILLEGAL = sorted(set(itertools.product(Phase, Phase)) - ALLOWED)


def test_the_table_is_the_documented_one() -> None:
    assert {(old, new) for old, targets in phases.TRANSITIONS.items() for new in targets} == ALLOWED
    assert set(phases.TRANSITIONS) == set(Phase)


@pytest.mark.parametrize(("old", "new"), sorted(ALLOWED))
def test_allowed_transition(old: Phase, new: Phase) -> None:
    phases.check_transition(old, new)


@pytest.mark.parametrize(("old", "new"), ILLEGAL)
def test_illegal_transition_raises(old: Phase, new: Phase) -> None:
    with pytest.raises(IllegalTransition, match=f"from {old} to {new}"):
        phases.check_transition(old, new)


def test_terminal_phases() -> None:
    assert {p for p in Phase if p.terminal} == {S, F, C}


@pytest.mark.parametrize(("text", "phase"), [(None, P), ("", P), ("Queued", Q), ("Cancelled", C)])
def test_parse(text: str | None, phase: Phase) -> None:
    assert phases.parse(text) is phase


@pytest.mark.parametrize("text", ["queued", "Done", "Unknown"])
def test_parse_refuses_unknown_phases(text: str) -> None:
    with pytest.raises(IllegalTransition, match="unknown phase"):
        phases.parse(text)


@pytest.mark.parametrize(("phase", "ready", "reconciling", "stalled"), [
    (P, "False", "True", "False"),
    (Q, "False", "True", "False"),
    (R, "False", "True", "False"),
    (S, "True", "False", "False"),
    (F, "False", "False", "True"),
    (C, "False", "False", "True"),
])
def test_conditions_follow_the_phase(phase: Phase, ready: str, reconciling: str, stalled: str) -> None:
    got = phases.conditions(phase, "Why", "what happened", now="2024-05-01T12:00:00Z", generation=3)
    assert [(c["type"], c["status"]) for c in got] == [
        ("Ready", ready), ("Reconciling", reconciling), ("Stalled", stalled), ("Published", ready)]
    for condition in got:
        assert condition["reason"] == "Why"
        assert condition["observedGeneration"] == 3
        assert condition["lastTransitionTime"] == "2024-05-01T12:00:00Z"
        assert condition["message"] == ("what happened" if condition["status"] == "True"
                                        or condition["type"] == "Ready" else "")


def test_conditions_without_generation_or_reason() -> None:
    (ready, *_) = phases.conditions(Q, "", "", now="t", generation=None)
    assert ready == {"type": "Ready", "status": "False", "reason": "Queued", "message": "Queued",
                     "lastTransitionTime": "t"}


def test_transition_time_changes_only_with_the_status() -> None:
    before: list[Condition] = phases.conditions(Q, "Queued", "", now="t1", generation=1)
    after = phases.conditions(R, "Publishing", "", now="t2", generation=1, previous=before)
    times = {c["type"]: c["lastTransitionTime"] for c in after}
    assert times == {"Ready": "t1", "Reconciling": "t1", "Stalled": "t1", "Published": "t1"}
    final = phases.conditions(S, "Published", "", now="t3", generation=1, previous=after)
    times = {c["type"]: c["lastTransitionTime"] for c in final}
    assert times == {"Ready": "t3", "Reconciling": "t3", "Stalled": "t1", "Published": "t3"}
