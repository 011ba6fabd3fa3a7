"""Publisher pods whose Transaction is gone are found; every other pod is left alone."""

from __future__ import annotations

from typing import Any

from cvmfs_operator.reconcile.orphans import Orphan, orphans, owner


def pod(name: str, ref: str | None, uid: str | None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {}, "annotations": {}}
    if ref is not None:
        meta["annotations"]["cvmfs.cern.ch/transaction"] = ref
    if uid is not None:
        meta["labels"]["cvmfs.cern.ch/transaction-uid"] = uid
    if deleting:
        meta["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    return {"metadata": meta}


def test_owner_reads_namespace_name_and_uid() -> None:
    assert owner(pod("p", "team/release", "u1")) == ("team", "release", "u1")
    assert owner(pod("p", None, "u1")) is None
    assert owner(pod("p", "team/release", None)) is None


def test_pods_of_missing_or_recreated_transactions_are_orphans() -> None:
    pods = [pod("gone", "team/a", "u1"), pod("recreated", "team/b", "old"), pod("fine", "team/c", "u3"),
            pod("leaving", "team/d", "u4", deleting=True), pod("foreign", None, None)]
    current = {("team", "a"): None, ("team", "b"): "new", ("team", "c"): "u3", ("team", "d"): None}
    assert orphans(pods, current) == [Orphan("gone", "team/a"), Orphan("recreated", "team/b")]


def test_a_pod_whose_transaction_was_not_looked_up_is_not_judged() -> None:
    assert orphans([pod("p", "team/a", "u1")], {}) == []
