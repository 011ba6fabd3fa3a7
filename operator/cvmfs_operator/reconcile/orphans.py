"""Publisher and operation pods whose owner is gone: nothing else would ever stop them.

A Transaction or RepositoryOperation removed without its finalizer (``kubectl patch`` to strip
it, a namespace force-deleted) leaves its pod running and the repository lock held by a holder
that no longer exists; so does a Repository whose creation pod still runs. The health loop's sweep
finds such pods and stops them; the lock is then broken by the next in the queue once it is stale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cvmfs_operator.render import names
from cvmfs_operator.render.operation_pod import CREATE  # the operation label of a creation pod

Kind = Literal["Transaction", "RepositoryOperation", "Repository"]


@dataclass(frozen=True)
class Owner:
    kind: Kind
    namespace: str  # "" for a Repository (cluster-scoped)
    name: str
    uid: str

    @property
    def ref(self) -> tuple[Kind, str, str]:
        return self.kind, self.namespace, self.name

    @property
    def display(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


@dataclass(frozen=True)
class Orphan:
    pod: str
    owner: str  # "Transaction <namespace>/<name>", "RepositoryOperation …", "Repository <name>"


def owner(pod: Mapping[str, Any]) -> Owner | None:
    """What a publisher or operation pod works for, from its metadata (None: neither)."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    ref = annotations.get(names.ANNOTATION_TRANSACTION, "")
    uid = labels.get(names.LABEL_TRANSACTION_UID)
    if "/" in ref and uid:
        namespace, name = ref.split("/", 1)
        return Owner("Transaction", namespace, name, uid)
    ref = annotations.get(names.ANNOTATION_OPERATION, "")
    uid = labels.get(names.LABEL_OPERATION_UID)
    if not ref or not uid:
        return None
    if labels.get(names.LABEL_OPERATION) == CREATE:
        return Owner("Repository", "", ref, uid) if "/" not in ref else None
    if "/" not in ref:
        return None
    namespace, name = ref.split("/", 1)
    return Owner("RepositoryOperation", namespace, name, uid)


def orphans(pods: Sequence[Mapping[str, Any]], current_uids: Mapping[tuple[Kind, str, str], str | None]
            ) -> list[Orphan]:
    """Pods whose owner does not exist any more (or exists again with another uid).

    ``current_uids`` maps each owner reference (kind, namespace, name) the pods refer to, to the
    uid of the object by that name now, or None when there is none; an owner not looked up is not
    judged. Pods already being deleted are left alone.
    """
    found = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        who = owner(pod)
        if who is None or meta.get("deletionTimestamp"):
            continue
        if who.ref in current_uids and current_uids[who.ref] != who.uid:
            found.append(Orphan(pod=str(meta.get("name")), owner=who.display))
    return found
