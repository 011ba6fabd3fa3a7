"""RepositoryOperations the operator creates itself, in its own namespace: one per schedule slot of a
Repository's ``spec.maintenance`` (gc, check) and one per whitelist it re-signs before expiry.

Names are derived from the repository and the slot (or the expiry being renewed), never from the
clock or a counter, so two replicas, or one restarted, create each at most once: the second create
gets 409 (already there). No ownerReferences: deleting a Repository must not erase the record of
what ran on it (and the operator never deletes RepositoryOperations).
"""

from __future__ import annotations

import datetime
from typing import Any

from cvmfs_operator.api import operations
from cvmfs_operator.api.types import API_VERSION, GROUP, Manifest, Repository
from cvmfs_operator.render import names

COMPONENT = "maintenance"
ANNOTATION_SLOT = f"{GROUP}/schedule-slot"  # the slot (or expiry) it was created for


def _operation(repo: Repository, name: str, namespace: str, kind: str, body: dict[str, Any],
               slot: datetime.datetime) -> Manifest:
    fqrn = repo["metadata"]["name"]
    return {
        "apiVersion": API_VERSION,
        "kind": "RepositoryOperation",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                names.LABEL_MANAGED_BY: names.MANAGED_BY,
                names.LABEL_COMPONENT: COMPONENT,
                names.LABEL_REPOSITORY: names.label_value(fqrn),
                names.LABEL_OPERATION: kind,
            },
            "annotations": {
                names.ANNOTATION_REPOSITORY: fqrn,
                ANNOTATION_SLOT: slot.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        },
        "spec": {"repository": fqrn, kind: body},
    }


def scheduled_operation(repo: Repository, kind: str, slot: datetime.datetime, namespace: str) -> Manifest:
    """The gc or check that the schedule slot ``slot`` (see api.cron.last_fire) of ``repo`` runs."""
    maintenance = repo["spec"].get("maintenance", {})
    body: dict[str, Any]
    if kind == "gc":
        gc = maintenance.get("gc")
        if gc is None:
            raise ValueError(f"Repository {repo['metadata']['name']} schedules no gc")
        body = {}
        if "keepRevisions" in gc:
            body["keepRevisions"] = gc["keepRevisions"]
        else:
            since = operations.gc_keep_since(gc.get("keepFor"), slot)
            if since is not None:
                body["keepSince"] = since
    elif kind == "check":
        check = maintenance.get("check")
        if check is None:
            raise ValueError(f"Repository {repo['metadata']['name']} schedules no check")
        body = {"chunks": check.get("chunks", True)}
    else:
        raise ValueError(f"{kind} is not a scheduled operation (gc, check)")
    name = names.scheduled_operation_name(kind, repo["metadata"]["name"], slot)
    return _operation(repo, name, namespace, kind, body, slot)


def resign_operation(repo: Repository, expires: datetime.datetime, namespace: str) -> Manifest:
    """The re-signing of the whitelist that expires at ``expires`` (see api.operations.resign_due)."""
    days = operations.resign_policy(repo).whitelist_days
    name = names.resign_operation_name(repo["metadata"]["name"], expires)
    return _operation(repo, name, namespace, "resign", {"whitelistDays": days}, expires)
