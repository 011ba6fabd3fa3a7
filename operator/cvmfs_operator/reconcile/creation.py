"""Creating a Repository with ``spec.create`` (pure): the next step from what was observed.

The Repository's condition ``Created`` records where creation stands, and is what makes it
happen at most once: ``True`` (done: from then on the Repository is read like any other), or
``False`` with reason ``AlreadyExists`` (the bucket held a repository of that name before the
operator made one: it never runs mkfs over it; only a person can resolve that), ``Creating`` or
the error class of a failed attempt. A creation pod runs under the repository's lock (nothing may
publish into a repository that is being made), with the lock holder ``/<fqrn>/<uid>``; a failed
pod is kept (its attempt number counts the attempts), a succeeded one is removed once recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cvmfs_operator.api.types import Condition, Repository
from cvmfs_operator.reconcile import operation_results
from cvmfs_operator.reconcile.observed import PodView

CREATED = "Created"
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Step:
    condition: tuple[str, str, str] | None = None  # Created: (status, reason, message)
    acquire_lock: bool = False
    release_lock: bool = False
    create_pod: int | None = None  # the attempt to start
    delete_pods: tuple[str, ...] = ()
    repository: Mapping[str, Any] = field(default_factory=dict)  # status fields recorded with it
    event: tuple[str, str, str] | None = None  # (type, reason, message) on the Repository


def created_condition(repo: Repository) -> Condition | None:
    for condition in (repo.get("status") or {}).get("conditions") or []:
        if condition["type"] == CREATED:
            return condition
    return None


def where(repo: Repository) -> str:
    s3: Any = repo["spec"]["stratum0"].get("s3") or {}
    return f"bucket {s3.get('bucket')} prefix {s3.get('prefix', repo['metadata']['name'])}"


def decide(repo: Repository, *, manifest_present: bool | None, pods: Sequence[PodView],
           lock_holder: str | None, me: str) -> Step | None:
    """What to do for ``repo`` now; None: nothing (not asked for, done, or waiting for a read)."""
    if "create" not in repo["spec"]:
        return None
    previous = created_condition(repo)
    done = previous is not None and (previous["status"] == "True" or previous["reason"] == "AlreadyExists")
    if done:
        leftovers = tuple(p.name for p in pods if p.terminated and not p.deleting)
        return Step(delete_pods=leftovers, release_lock=lock_holder == me) if leftovers or lock_holder == me \
            else None
    running = [p for p in pods if not p.terminated]
    if running:
        pod = running[0]
        return Step(condition=("False", "Creating", f"cvmfs_server mkfs in pod {pod.name} "
                                                    f"(attempt {pod.attempt})"))
    latest = max(pods, key=lambda p: p.attempt) if pods else None
    if latest is not None and operation_results.classify(latest).succeeded:
        return _recorded(repo, latest, lock_holder == me)
    attempts = latest.attempt if latest is not None else 0
    if latest is not None:
        outcome = operation_results.classify(latest)
        if outcome.reason == "AlreadyExists":
            message = (f"{where(repo)} already holds a repository named {repo['metadata']['name']}: "
                       "the operator never runs mkfs over it")
            return Step(condition=("False", "AlreadyExists", message), release_lock=lock_holder == me,
                        event=("Warning", "AlreadyExists", message))
        if attempts >= MAX_ATTEMPTS:
            message = f"gave up after {attempts} attempts: {outcome.message}"
            return Step(condition=("False", outcome.reason, message), release_lock=lock_holder == me)
    if manifest_present is None:
        return None  # the bucket could not be read: its conditions say why
    if manifest_present:
        message = (f"{where(repo)} already holds a repository named {repo['metadata']['name']}: "
                   "the operator never runs mkfs over it")
        return Step(condition=("False", "AlreadyExists", message), release_lock=lock_holder == me,
                    event=("Warning", "AlreadyExists", message))
    if lock_holder is None:
        return Step(condition=("False", "Creating", "taking the repository lock"), acquire_lock=True)
    if lock_holder != me:
        return Step(condition=("False", "Creating", f"waiting for the lock, held by {lock_holder}"))
    return Step(create_pod=attempts + 1)


def _recorded(repo: Repository, pod: PodView, holds_lock: bool) -> Step:
    outcome = operation_results.classify(pod)
    result = outcome.result
    fields: dict[str, Any] = {}
    if result is not None and result["reflogChecksum"]:
        fields = {"reflogChecksum": result["reflogChecksum"], "reflogRevision": result["revisionAfter"]}
    message = f"created in {where(repo)} (cvmfs_server mkfs, pod {pod.name})"
    return Step(condition=("True", "Created", message), release_lock=holds_lock, delete_pods=(pod.name,),
                repository=fields, event=("Normal", "Created", f"Repository {message}"))
