"""Hand-built observations for the decision tests, and a way to apply a decided status."""

from __future__ import annotations

import copy
import dataclasses
import datetime
from collections.abc import Sequence
from typing import Any

from cvmfs_operator.api import contract
from cvmfs_operator.api.phases import Phase
from cvmfs_operator.api.types import Repository, Transaction, TransactionStatus
from cvmfs_operator.reconcile.observed import Observed, PodView, QueueEntry, Stratum0View
from cvmfs_operator.reconcile.transaction import SetStatus
from tests.unit.render import specs

NOW = datetime.datetime(2024, 5, 1, 12, 30, 0, tzinfo=datetime.UTC)
NOW_TEXT = "2024-05-01T12:30:00Z"
INTERVAL = 30.0
UID = specs.UID
ME = f"team-a/release-1/{UID}"
OTHER = "team-b/nightly/7d1e0c55-0000-4000-8000-00000000000b"
FQRN = specs.FQRN

ME_ENTRY = QueueEntry(created="2024-05-01T12:00:00Z", namespace="team-a", name="release-1", uid=UID)
OTHER_ENTRY = QueueEntry(created="2024-05-01T11:00:00Z", namespace="team-b", name="nightly",
                         uid="7d1e0c55-0000-4000-8000-00000000000b")


def ago(seconds: float) -> datetime.datetime:
    return NOW - datetime.timedelta(seconds=seconds)


def text_ago(seconds: float) -> str:
    return ago(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def transaction(phase: Phase | None = None, *, generation: int = 1, **status: Any) -> Transaction:
    txn = specs.tarball_transaction()
    txn["metadata"]["generation"] = generation
    if phase is not None or status:
        full: dict[str, Any] = dict(status)
        if phase is not None:
            full["phase"] = phase.value
        txn["status"] = full  # type: ignore[typeddict-item]
    return txn


def repository(**spec: Any) -> Repository:
    repo = specs.s3_repository()
    repo["spec"].update(spec)  # type: ignore[typeddict-item]
    return repo


def observed(txn: Transaction, *, repo: Repository | None = None, no_repo: bool = False,
             lock: str | None = None, lock_age: float | None = None, holder_alive: bool = True,
             pods: Sequence[PodView] = (),
             queue: Sequence[QueueEntry] | None = None, now: datetime.datetime = NOW,
             stratum0: Stratum0View | None = None) -> Observed:
    return Observed(
        transaction=txn,
        repository=None if no_repo else (repo or repository()),
        lock_holder=lock,
        lock_age=lock_age,
        holder_alive=holder_alive,
        pods=list(pods),
        queue=[ME_ENTRY] if queue is None else list(queue),
        now=now,
        reconcile_interval=INTERVAL,
        stratum0=stratum0,
    )


def pod(attempt: int, phase: str = "Running", **facts: Any) -> PodView:
    facts.setdefault("created", ago(60))
    return PodView(name=f"publisher-a{attempt}", attempt=attempt, phase=phase, **facts)


def apply(obs: Observed, action: SetStatus) -> Observed:
    """The Observed after the status patch (a JSON merge patch: null deletes) reached the API."""
    txn = copy.deepcopy(obs.transaction)
    status: dict[str, Any] = dict(txn.get("status", {}))
    for key, value in action.status.items():
        if value is None:
            status.pop(key, None)
        else:
            status[key] = copy.deepcopy(value)
    txn["status"] = status  # type: ignore[typeddict-item]
    return dataclasses.replace(obs, transaction=txn)


def result(**overrides: Any) -> str:
    """A publisher termination message (JSON)."""
    data: dict[str, Any] = {
        "contractVersion": contract.CONTRACT_VERSION,
        "outcome": "Succeeded",
        "errorClass": None,
        "step": None,
        "message": "published revision 8",
        "revisionBefore": 7,
        "revisionAfter": 8,
        "rootHash": "d" * 40,
        "tag": "team-a-release-1",
        "reflogChecksum": "e" * 40,
        "durations": {"mount": 1.5, "publish": 3.0},
        "leaseToken": None,
        "logTail": ["publishing", "done"],
    }
    data.update(overrides)
    return contract.encode_result(data).decode()  # type: ignore[arg-type]


def failure(error_class: str, step: str = "fetch", message: str = "boom") -> str:
    return result(outcome="Failed", errorClass=error_class, step=step, message=message, revisionAfter=None,
                  rootHash=None, tag=None, reflogChecksum=None)


def status_of(obs: Observed) -> TransactionStatus:
    return obs.transaction.get("status", {})
