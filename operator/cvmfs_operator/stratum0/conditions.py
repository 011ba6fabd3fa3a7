"""kstatus-style conditions with stable ``lastTransitionTime`` (pure).

A condition's ``lastTransitionTime`` changes only when its ``status`` changes; a new reason or
message alone keeps the previous time, so re-running a check on a timer does not churn status.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Literal

from cvmfs_operator.api.types import Condition

ConditionStatus = Literal["True", "False", "Unknown"]


def rfc3339(moment: datetime.datetime) -> str:
    """``2026-11-22T02:23:13Z``: UTC, second precision. ``moment`` must be timezone-aware."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware time")
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_condition(type_: str, status: ConditionStatus, reason: str, message: str, *,
                   now: datetime.datetime, previous: Sequence[Condition] = (),
                   observed_generation: int | None = None) -> Condition:
    """A condition; its transition time is kept from ``previous`` when ``status`` is unchanged."""
    before = next((c for c in previous if c.get("type") == type_), None)
    since = before["lastTransitionTime"] if before is not None and before.get("status") == status \
        else rfc3339(now)
    condition = Condition(type=type_, status=status, reason=reason, message=message,
                          lastTransitionTime=since)
    if observed_generation is not None:
        condition["observedGeneration"] = observed_generation
    return condition


def merge_conditions(existing: Iterable[Condition], updates: Iterable[Condition]) -> list[Condition]:
    """``existing`` with every condition of the same type replaced by the one in ``updates``.

    Order: existing types keep their place, new types are appended in the order given.
    """
    fresh = {c["type"]: c for c in updates}
    merged = [fresh.pop(c["type"], c) for c in existing]
    return merged + list(fresh.values())
