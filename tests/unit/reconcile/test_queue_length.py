"""A repository's queue length: every unfinished Transaction but the one publishing."""

from __future__ import annotations

from cvmfs_operator.reconcile.observed import QueueEntry, queue_length

QUEUE = [QueueEntry("2024-05-01T12:00:00Z", "team", name, f"u-{name}") for name in ("a", "b", "c")]


def test_the_publishing_transaction_is_not_waiting() -> None:
    assert queue_length(QUEUE, "u-a") == 2


def test_with_nobody_publishing_all_are_waiting() -> None:
    assert queue_length(QUEUE, None) == 3
    assert queue_length(QUEUE, "u-gone") == 3
    assert queue_length([], None) == 0
