"""Publisher and operation pods whose owner is gone are found; every other pod is left alone."""

from __future__ import annotations

from typing import Any

from cvmfs_operator.reconcile.orphans import Orphan, Owner, orphans, owner


def pod(name: str, ref: str | None, uid: str | None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {}, "annotations": {}}
    if ref is not None:
        meta["annotations"]["cvmfs.cern.ch/transaction"] = ref
    if uid is not None:
        meta["labels"]["cvmfs.cern.ch/transaction-uid"] = uid
    if deleting:
        meta["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    return {"metadata": meta}


def operation_pod(name: str, ref: str, uid: str, operation: str = "gc") -> dict[str, Any]:
    """As render/operation_pod.py labels and annotates it."""
    labels = {"cvmfs.cern.ch/operation": operation, "cvmfs.cern.ch/operation-uid": uid}
    return {"metadata": {"name": name, "labels": labels,
                         "annotations": {"cvmfs.cern.ch/repository-operation": ref}}}


def test_owner_reads_namespace_name_and_uid() -> None:
    assert owner(pod("p", "team/release", "u1")) == Owner("Transaction", "team", "release", "u1")
    assert owner(pod("p", None, "u1")) is None
    assert owner(pod("p", "team/release", None)) is None


def test_owner_of_an_operation_pod_is_its_repository_operation_or_the_repository_it_creates() -> None:
    assert owner(operation_pod("p", "team/nightly-gc", "u2")) == \
        Owner("RepositoryOperation", "team", "nightly-gc", "u2")
    assert owner(operation_pod("p", "sw.example.org", "u3", operation="create")) == \
        Owner("Repository", "", "sw.example.org", "u3")
    assert owner(operation_pod("p", "no-namespace", "u4")) is None  # an operation is namespaced
    assert owner(operation_pod("p", "a/b", "u5", operation="create")) is None  # a Repository is not


def test_pods_of_missing_or_recreated_transactions_are_orphans() -> None:
    pods = [pod("gone", "team/a", "u1"), pod("recreated", "team/b", "old"), pod("fine", "team/c", "u3"),
            pod("leaving", "team/d", "u4", deleting=True), pod("foreign", None, None)]
    current: dict[Any, str | None] = {
        ("Transaction", "team", "a"): None, ("Transaction", "team", "b"): "new",
        ("Transaction", "team", "c"): "u3", ("Transaction", "team", "d"): None}
    assert orphans(pods, current) == [Orphan("gone", "Transaction team/a"),
                                      Orphan("recreated", "Transaction team/b")]


def test_pods_of_missing_operations_and_of_a_deleted_repositorys_creation_are_orphans() -> None:
    pods = [operation_pod("op-gone", "team/gc", "u1"), operation_pod("op-fine", "team/check", "u2"),
            operation_pod("mkfs", "sw.example.org", "u3", operation="create")]
    current: dict[Any, str | None] = {
        ("RepositoryOperation", "team", "gc"): None, ("RepositoryOperation", "team", "check"): "u2",
        ("Repository", "", "sw.example.org"): "another"}
    assert orphans(pods, current) == [Orphan("op-gone", "RepositoryOperation team/gc"),
                                      Orphan("mkfs", "Repository sw.example.org")]


def test_a_transaction_and_an_operation_of_one_name_are_different_owners() -> None:
    pods = [pod("txn", "team/x", "u1"), operation_pod("op", "team/x", "u2")]
    current: dict[Any, str | None] = {("Transaction", "team", "x"): "u1",
                                      ("RepositoryOperation", "team", "x"): None}
    assert orphans(pods, current) == [Orphan("op", "RepositoryOperation team/x")]


def test_a_pod_whose_owner_was_not_looked_up_is_not_judged() -> None:
    assert orphans([pod("p", "team/a", "u1"), operation_pod("o", "team/b", "u2")], {}) == []
