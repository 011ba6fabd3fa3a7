"""Which RepositoryOperations a Repository's maintenance asks for now (pure).

* ``spec.maintenance.gc`` / ``.check``: the latest slot of the schedule at or before now
  (:func:`api.cron.last_fire`), if it is not older than the Repository itself (a weekly schedule
  on a Repository made on Wednesday first runs the next Sunday, not for last Sunday's slot);
* whitelist re-signing when :func:`api.operations.resign_due` says so, for the expiry being renewed.

Each is named from its slot (render/operation.py): the API server's create is the once-only guard,
so computing the same list again, here or in another replica, creates nothing new.
"""

from __future__ import annotations

import datetime
from typing import Any

from cvmfs_operator.api import cron, operations
from cvmfs_operator.api.types import Manifest, Repository
from cvmfs_operator.reconcile.observed import parse_time
from cvmfs_operator.render.operation import resign_operation, scheduled_operation

SCHEDULED = ("gc", "check")


def due(repo: Repository, *, whitelist_expires: datetime.datetime | None, now: datetime.datetime,
        namespace: str) -> list[Manifest]:
    """The operations due now; ``whitelist_expires`` as last read (None: unknown, no re-signing)."""
    if operations.maintenance_errors(repo):
        return []  # reported on the Repository by the health read; nothing is scheduled from it
    wanted: list[Manifest] = []
    created = parse_time(repo["metadata"].get("creationTimestamp"))
    maintenance = repo["spec"].get("maintenance") or {}
    for kind in SCHEDULED:
        body: Any = maintenance.get(kind) or {}
        schedule = body.get("schedule")
        if not schedule:
            continue
        try:
            slot = cron.last_fire(schedule, now)
        except cron.CronError:
            continue
        if created is not None and slot < created.replace(second=0, microsecond=0):
            continue
        if kind == "gc" and operations.refusal("gc", repo) is not None:
            continue
        wanted.append(scheduled_operation(repo, kind, slot, namespace))
    if whitelist_expires is not None and operations.refusal("resign", repo) is None \
            and operations.resign_due(repo, whitelist_expires, now):
        wanted.append(resign_operation(repo, whitelist_expires, namespace))
    return wanted
