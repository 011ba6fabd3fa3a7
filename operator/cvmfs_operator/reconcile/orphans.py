"""Publisher pods whose Transaction is gone: nothing else would ever stop them.

A Transaction removed without its finalizer (``kubectl patch`` to strip it, a namespace force-deleted)
leaves its pod running and the repository lock held by a holder that no longer exists. The health
timer of each Repository finds such pods and stops them; the lock is then broken by the next
Transaction in the queue once it is stale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cvmfs_operator.render import names

TRANSACTION_ANNOTATION = "cvmfs.cern.ch/transaction"


@dataclass(frozen=True)
class Orphan:
    pod: str
    transaction: str  # "<namespace>/<name>"


def owner(pod: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(namespace, name, uid) of the Transaction a publisher pod belongs to, from its metadata."""
    meta = pod.get("metadata") or {}
    ref = (meta.get("annotations") or {}).get(TRANSACTION_ANNOTATION, "")
    uid = (meta.get("labels") or {}).get(names.LABEL_TRANSACTION_UID)
    if "/" not in ref or not uid:
        return None
    namespace, name = ref.split("/", 1)
    return namespace, name, uid


def orphans(pods: Sequence[Mapping[str, Any]], current_uids: Mapping[tuple[str, str], str | None]
            ) -> list[Orphan]:
    """Pods whose Transaction does not exist any more (or exists again with another uid).

    ``current_uids`` maps each (namespace, name) the pods refer to, to the uid of the Transaction
    by that name now, or None when there is none. Pods already being deleted are left alone.
    """
    found = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        who = owner(pod)
        if who is None or meta.get("deletionTimestamp"):
            continue
        namespace, name, uid = who
        if (namespace, name) in current_uids and current_uids[(namespace, name)] != uid:
            found.append(Orphan(pod=str(meta.get("name")), transaction=f"{namespace}/{name}"))
    return found
