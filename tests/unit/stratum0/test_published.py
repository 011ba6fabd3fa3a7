"""Exactly-once: was this Transaction's publish already done, judged from the tag database."""

from __future__ import annotations

from cvmfs_operator.stratum0 import NotPublished, Published, TagInfo, publish_outcome

TAG = TagInfo(name="team-a-release-7", root_hash="ab" * 20, revision=12, timestamp=1795314195,
              description="release 7")


def test_no_tag_means_not_published() -> None:
    assert publish_outcome(None, revision_before=11) == NotPublished()


def test_tag_after_the_start_revision_was_published_by_this_transaction() -> None:
    assert publish_outcome(TAG, revision_before=11) == Published(12, "ab" * 20, before_transaction=False)


def test_tag_that_predates_the_transaction_was_published_earlier() -> None:
    assert publish_outcome(TAG, revision_before=12) == Published(12, "ab" * 20, before_transaction=True)


def test_unknown_start_revision_still_trusts_the_tag() -> None:
    assert publish_outcome(TAG, revision_before=None) == Published(12, "ab" * 20)
