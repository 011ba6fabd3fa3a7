"""What a Repository's maintenance adds to its health conditions (pure).

* ``Degraded=True``, reason ``CheckFailed``: the last check that finished (``status.lastCheck``)
  found problems; it stays until a later check passes (the storage itself looks healthy to the
  health read, which reads only the manifest and whitelist).
* ``MasterKeyMissing``: a Repository without ``spec.masterKeySecretRef`` cannot have its whitelist
  re-signed by the operator. True from twice ``leadTime`` before the whitelist expires (well before
  the automatic re-signing would have run), False before that; absent when the master key is there
  or ``maintenance.resign.enabled`` is false (the site re-signs elsewhere).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from cvmfs_operator.api import operations
from cvmfs_operator.api.types import Condition, Repository
from cvmfs_operator.stratum0.conditions import make_condition, merge_conditions, rfc3339

MASTER_KEY_MISSING = "MasterKeyMissing"
CREATED = "Created"  # reconcile/creation.py
WARN_FACTOR = 2  # MasterKeyMissing turns True this many lead times before expiry


def _creation(repo: Repository, now: datetime.datetime, previous: Sequence[Condition],
              created: Condition | None) -> list[Condition]:
    """``Created`` (kept from the previous status), and while it is not True: Ready=False with its
    reason (AlreadyExists also Stalled: only a person can resolve it), not the ManifestMissing an
    empty bucket shows."""
    if "create" not in repo["spec"]:
        return []
    condition = created or next((c for c in previous if c["type"] == CREATED), None)
    if condition is None:
        return []
    if condition["status"] == "True":
        return [condition]
    generation = repo["metadata"].get("generation")
    stalled = condition["reason"] == "AlreadyExists"
    return [condition,
            make_condition("Ready", "False", condition["reason"], condition["message"], now=now,
                           previous=previous, observed_generation=generation),
            make_condition("Stalled", "True" if stalled else "False",
                           condition["reason"] if stalled else "Progressing",
                           condition["message"] if stalled else "the repository is being created",
                           now=now, previous=previous, observed_generation=generation)]


def _parse(text: object) -> datetime.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def maintenance_conditions(repo: Repository, health: Mapping[str, Any], *, now: datetime.datetime,
                           previous: Sequence[Condition] = (), created: Condition | None = None,
                           ) -> list[Condition]:
    """``health["conditions"]`` (from assess_health) with the maintenance conditions merged in;
    ``created``: the ``Created`` condition of a Repository with ``spec.create`` decided just now."""
    conditions: list[Condition] = list(health.get("conditions") or [])
    generation = repo["metadata"].get("generation")
    updates: list[Condition] = _creation(repo, now, previous, created)
    check: Mapping[str, Any] = (repo.get("status") or {}).get("lastCheck") or {}
    degraded = next((c for c in conditions if c["type"] == "Degraded"), None)
    if check.get("result") == "Failed" and (degraded is None or degraded["status"] != "True"):
        updates.append(make_condition(
            "Degraded", "True", "CheckFailed",
            f"the check {check.get('operation')} at {check.get('time')} found problems; it clears when a "
            "later check passes", now=now, previous=previous, observed_generation=generation))
    spec = repo["spec"]
    resign = (spec.get("maintenance") or {}).get("resign") or {}
    if "masterKeySecretRef" not in spec and resign.get("enabled", True):
        try:
            lead = operations.parse_duration(str(resign.get("leadTime", "168h")))
        except ValueError:
            lead = operations.DEFAULT_LEAD_TIME
        known = health.get("whitelistExpiresAt") or (repo.get("status") or {}).get("whitelistExpiresAt")
        expires = _parse(known)
        if expires is not None and expires - now <= WARN_FACTOR * lead:
            updates.append(make_condition(
                MASTER_KEY_MISSING, "True", "NoMasterKeySecret",
                f"the whitelist expires at {rfc3339(expires)} and nobody can re-sign it here: set "
                "spec.masterKeySecretRef, or re-sign it where the master key is kept",
                now=now, previous=previous, observed_generation=generation))
        else:
            until = "" if expires is None else f" (whitelist valid until {rfc3339(expires)})"
            updates.append(make_condition(
                MASTER_KEY_MISSING, "False", "NotYetDue",
                f"no spec.masterKeySecretRef: the whitelist will not be re-signed automatically{until}",
                now=now, previous=previous, observed_generation=generation))
    return merge_conditions(conditions, updates)
