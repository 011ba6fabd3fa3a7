"""The repository as the lock's last holder read it, handed to the next holder with the lock.

Before its first pod a Transaction reads its repository (exactly-once: is its tag there already;
the reflog check: has the bucket changed outside the operator), and so does a RepositoryOperation
(is its effect there already; the same reflog check). In a queue, the one that hands it the lock
has just read the same repository: after its own pod ended, to verify its result, while it held
the lock. Nothing of this operator can change the repository between that
read and the next pod, because the lock is held throughout (by the one, then by the other), so
that read — taken with the bucket's reflog hash and the tag database once someone waits — serves
the next holder too, and a hand-over costs no S3 read of its own (three GETs fewer between one
pod's end and the next pod). A change from outside the operator in between is what the pod's own
reflog check catches at signing time (``reflog.chksum``), as it would after a fresh read.

Only a first attempt, only with the lock handed over by this process (another replica's
successor reads for itself), and only for a few seconds: anything else reads the repository.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping
from typing import Any

from cvmfs_operator.api.phases import TERMINAL
from cvmfs_operator.reconcile.actions import Action, CreatePod, SetStatus
from cvmfs_operator.reconcile.observed import Stratum0View
from cvmfs_operator.stratum0 import Stratum0Error
from cvmfs_operator.stratum0.tags import find_in

MAX_AGE_SECONDS = 10.0


class HandedViews:
    """The views handed on, by the uid of the holder they were handed to (one per repository at
    most: the entry of a successor that never came for it is dropped after ``max_age``)."""

    def __init__(self, max_age: float = MAX_AGE_SECONDS) -> None:
        self._views: dict[str, tuple[float, Stratum0View]] = {}
        self._guard = threading.Lock()
        self._max_age = max_age

    def offer(self, uid: str, view: Stratum0View | None) -> None:
        """Before handing the lock to ``uid``: a view it may use (one that a successor can)."""
        if view is None or view.error or not view.reflog_read:
            return
        now = time.monotonic()
        with self._guard:
            self._views = {k: v for k, v in self._views.items() if now - v[0] < self._max_age}
            self._views[uid] = (now, view)

    def withdraw(self, uid: str) -> None:
        """The hand-over did not happen: the view is no one's."""
        with self._guard:
            self._views.pop(uid, None)

    def take(self, obj: Mapping[str, Any], tag: str | None) -> Stratum0View | None:
        """The view handed to this Transaction or RepositoryOperation, with ``tag`` (its own: the
        tag it publishes, rolls back to or edits) looked up; None when there is none (or too old,
        or not for a first attempt)."""
        with self._guard:
            entry = self._views.pop(obj["metadata"]["uid"], None)
        if entry is None or time.monotonic() - entry[0] >= self._max_age:
            return None
        if (obj.get("status") or {}).get("attempts"):
            return None  # a later attempt asks the repository whether the last one published
        return view_for(tag, entry[1])

    def __len__(self) -> int:
        with self._guard:
            return len(self._views)


def view_for(tag: str | None, view: Stratum0View) -> Stratum0View | None:
    """The same look at the repository, about ``tag``; None when it cannot be told."""
    try:
        found = find_in(view.tag_database, tag) if tag is not None else None
    except Stratum0Error:
        return None
    return dataclasses.replace(view, tag_revision=found.revision if found else None,
                               tag_hash=found.root_hash if found else None, read_seconds=0.0)


def starts(action: Action) -> bool:
    """A start decided (on a handed read, counted as its use): a pod created, or the object found
    done already (a final status)."""
    if isinstance(action, SetStatus):
        return action.status.get("phase") in TERMINAL
    return isinstance(action, CreatePod)
