"""The repository read handed on with the lock: who may use it, and what it says about their tag."""

from __future__ import annotations

import datetime

from cvmfs_operator.handlers.handover import HandedViews, view_for
from cvmfs_operator.reconcile.observed import Stratum0View
from cvmfs_operator.render.transaction import effective_tag
from cvmfs_operator.stratum0 import simulated
from tests.unit.reconcile.builders import FQRN, UID, transaction

NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.UTC)


def read(store: simulated.MemoryStore) -> Stratum0View:
    """What a verification read with someone waiting sees (the predecessor's tag is irrelevant)."""
    manifest = store.manifest()
    return Stratum0View(revision=manifest.revision, root_hash=manifest.root_hash,
                        reflog_hash=manifest.reflog_hash, reflog_read=True, bucket_reflog="ab" * 20,
                        tag_database=store.tag_database(manifest))


def repository(*tags: str) -> simulated.MemoryStore:
    store = simulated.MemoryStore()
    simulated.seed_repository(store, FQRN, NOW)
    for tag in tags:
        simulated.publish(store, FQRN, tag, "", NOW)
    return store


def test_the_next_holder_gets_the_read_with_its_own_tag_looked_up() -> None:
    txn = transaction()
    handed = HandedViews()
    handed.offer(UID, read(repository("someone-else")))
    view = handed.take(txn, effective_tag(txn))
    assert view is not None
    assert (view.revision, view.tag_revision, view.reflog_read) == (3, None, True)
    assert view.bucket_reflog == "ab" * 20
    assert handed.take(txn, effective_tag(txn)) is None, "a hand-over's read serves one start"
    assert len(handed) == 0


def test_a_tag_already_in_the_repository_is_seen_in_the_handed_read() -> None:
    """Exactly-once through a hand-over: the same tag published by the one before."""
    txn = transaction()
    handed = HandedViews()
    handed.offer(UID, read(repository("someone-else", effective_tag(txn))))
    view = handed.take(txn, effective_tag(txn))
    assert view is not None
    assert view.tag_revision == 4
    assert view.tag_hash is not None


def test_only_the_one_it_was_handed_to_and_only_a_first_attempt_use_it() -> None:
    store = repository()
    handed = HandedViews()
    handed.offer("another-uid", read(store))
    assert handed.take(transaction(), 'any') is None
    handed.offer(UID, read(store))
    assert handed.take(transaction(attempts=1), 'any') is None, "a retry asks the repository itself"
    handed.offer(UID, read(store))
    handed.withdraw(UID)  # the hand-over did not happen
    assert handed.take(transaction(), 'any') is None


def test_an_old_read_is_not_used() -> None:
    handed = HandedViews(max_age=0.0)
    handed.offer(UID, read(repository()))
    assert handed.take(transaction(), 'any') is None


def test_a_failed_read_or_one_without_the_reflog_is_not_handed_on() -> None:
    handed = HandedViews()
    handed.offer(UID, Stratum0View(error="S3 said no"))
    handed.offer(UID, Stratum0View(revision=3, reflog_read=False))
    handed.offer(UID, None)
    assert len(handed) == 0


def test_an_unreadable_tag_database_tells_nothing() -> None:
    view = Stratum0View(revision=3, reflog_read=True, tag_database=("data/ab/cdH", b"not a database"))
    assert view_for(effective_tag(transaction()), view) is None


def test_a_repository_without_a_tag_database_has_no_tag() -> None:
    view = view_for(effective_tag(transaction()), Stratum0View(revision=1, reflog_read=True))
    assert view is not None
    assert view.tag_revision is None


def test_an_operation_takes_it_about_its_own_tag_or_none() -> None:
    """A RepositoryOperation in the same queue: a rollback's target tag, or no tag (gc, check)."""
    operation = {"metadata": {"uid": UID}, "status": {}}
    handed = HandedViews()
    handed.offer(UID, read(repository("v1")))
    view = handed.take(operation, "v1")
    assert view is not None
    assert view.tag_revision == 3
    handed.offer(UID, read(repository("v1")))
    view = handed.take(operation, None)
    assert view is not None
    assert (view.revision, view.tag_revision) == (3, None)
