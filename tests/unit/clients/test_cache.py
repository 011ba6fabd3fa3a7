"""The operator's stores keep the newest version they saw, whichever way it arrived."""

from __future__ import annotations

from typing import Any

from cvmfs_operator.clients.cache import Store, trim_object


def obj(name: str, version: int | str | None, ns: str = "ops", **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels}
    if version is not None:
        meta["resourceVersion"] = str(version)
    return {"metadata": meta, "spec": {"v": version}}


def test_an_older_event_never_replaces_a_newer_write() -> None:
    store = Store("pod")
    assert store.put(obj("p", 7))  # our own write's response
    assert not store.put(obj("p", 5))  # a watch event that was in flight before it
    assert store.get("ops", "p") == obj("p", 7)
    assert store.put(obj("p", 9))
    assert store.get("ops", "p") == obj("p", 9)


def test_a_deletion_is_not_undone_by_a_late_write_response() -> None:
    store = Store("lease")
    store.put(obj("lock", 3))
    store.delete(obj("lock", 4))
    assert not store.put(obj("lock", 3))
    assert store.get("ops", "lock") is None
    assert store.put(obj("lock", 8))  # created again since
    assert store.get("ops", "lock") == obj("lock", 8)


def test_a_deletion_older_than_a_recreation_is_ignored() -> None:
    store = Store("lease")
    store.put(obj("lock", 10))
    store.delete(obj("lock", 6))
    assert store.get("ops", "lock") == obj("lock", 10)


def test_a_relist_keeps_what_was_learnt_after_it_and_drops_what_it_does_not_hold() -> None:
    store = Store("pod")
    store.put(obj("created-after-the-list", 12))
    store.put(obj("gone", 3))
    store.put(obj("kept", 4))
    assert not store.synced.is_set()
    store.replace([obj("kept", 5), obj("new", 9)], "10")
    assert store.synced.is_set()
    names = sorted(o["metadata"]["name"] for o in store.select({}))
    assert names == ["created-after-the-list", "kept", "new"]
    assert store.get("ops", "kept") == obj("kept", 5)
    assert not store.put(obj("gone", 3))  # its absence from the list is remembered


def test_a_relist_does_not_bring_back_what_was_deleted_after_it() -> None:
    store = Store("pod")
    store.put(obj("p", 3))
    store.delete(obj("p", 11))
    store.replace([obj("p", 3)], "10")
    assert store.get("ops", "p") is None


def test_versions_that_are_not_numbers_are_taken_as_newest() -> None:
    store = Store("pod")
    store.put(obj("p", 5))
    assert store.put(obj("p", "opaque"))
    assert store.get("ops", "p") == obj("p", "opaque")


def test_select_matches_labels_and_namespace() -> None:
    store = Store("pod")
    store.put(obj("a", 1, component="publisher", uid="1"))
    store.put(obj("b", 2, component="publisher", uid="2"))
    store.put(obj("c", 3, ns="elsewhere", component="publisher", uid="1"))
    assert [o["metadata"]["name"] for o in store.select({"uid": "1"}, "ops")] == ["a"]
    assert len(store.select({"component": "publisher"})) == 3


def test_invalidate_forgets_a_stale_object() -> None:
    store = Store("txn")
    store.put(obj("t", 4))
    store.invalidate("ops", "t")
    assert store.get("ops", "t") is None
    assert store.put(obj("t", 4))


def test_trim_drops_managed_fields_and_kopfs_copy_of_the_spec() -> None:
    body = obj("t", 1)
    body["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    body["metadata"]["annotations"] = {
        "cvmfs.cern.ch/last-handled-configuration": "{...}", "kopf.zalando.org/x": "y",
        "cvmfs.cern.ch/accept-reflog-checksum": "abc"}
    trimmed = trim_object(body)
    assert "managedFields" not in trimmed["metadata"]
    assert trimmed["metadata"]["annotations"] == {"cvmfs.cern.ch/accept-reflog-checksum": "abc"}
    assert trimmed["spec"] == {"v": 1}


def names(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(o["metadata"]["name"] for o in objects)


def test_a_selection_follows_labels_through_every_change() -> None:
    store = Store("pod")
    store.put(obj("a", 1, repo="r1", txn="t1"))
    store.put(obj("b", 2, repo="r1", txn="t2"))
    store.put(obj("c", 3, repo="r2", txn="t3"))
    store.put(obj("d", 4, ns="other", repo="r1"))
    assert names(store.select({"repo": "r1"})) == ["a", "b", "d"]
    assert names(store.select({"repo": "r1"}, "ops")) == ["a", "b"]
    assert names(store.select({"repo": "r1", "txn": "t2"})) == ["b"]
    assert names(store.select({"repo": "r3"})) == []
    assert names(store.select({})) == ["a", "b", "c", "d"]

    store.put(obj("b", 5, repo="r2", txn="t2"))  # relabelled: it leaves r1
    assert names(store.select({"repo": "r1"}, "ops")) == ["a"]
    assert names(store.select({"repo": "r2"})) == ["b", "c"]
    assert not store.put(obj("b", 4, repo="r1", txn="t2"))  # an older version changes nothing
    assert names(store.select({"repo": "r1"}, "ops")) == ["a"]

    store.delete(obj("a", 6))
    store.invalidate("ops", "c")
    assert names(store.select({"repo": "r1"}, "ops")) == []
    assert names(store.select({"repo": "r2"})) == ["b"]

    store.replace([obj("e", 10, repo="r1"), obj("b", 10, repo="r9")], "10")
    assert names(store.select({"repo": "r1"})) == ["e"]
    assert names(store.select({"repo": "r2"})) == []
    assert names(store.select({"repo": "r9"})) == ["b"]
