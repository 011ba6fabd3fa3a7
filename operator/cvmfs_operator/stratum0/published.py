"""Exactly-once: decide from the repository itself whether a Transaction's publish happened (pure).

Every publish carries a tag (``publish -a <tag>``). When the operator lost track of a publisher
pod, it looks the tag up (``Stratum0Reader.find_tag``) and asks :func:`publish_outcome` before it
ever starts another attempt. A tag lookup that *failed* (a :class:`Stratum0Error`) is not an
answer: the caller must retry later, never read it as :class:`NotPublished`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cvmfs_operator.stratum0.tags import TagInfo


@dataclass(frozen=True)
class Published:
    revision: int  # the revision the tag points at
    root_hash: str  # its root catalog hash
    # True when the tag already existed at the revision the Transaction started from: an earlier
    # Transaction with the same tag published it (for example one that a GitOps tool re-created).
    before_transaction: bool = False


@dataclass(frozen=True)
class NotPublished:
    pass


PublishOutcome = Published | NotPublished


def publish_outcome(tag: TagInfo | None, revision_before: int | None) -> PublishOutcome:
    """``Published`` when the tag exists, else ``NotPublished``.

    ``revision_before`` is the manifest revision when the Transaction started (None if unknown);
    it only tells whether the tag came from this Transaction or from an earlier one.
    """
    if tag is None:
        return NotPublished()
    earlier = revision_before is not None and tag.revision <= revision_before
    return Published(revision=tag.revision, root_hash=tag.root_hash, before_transaction=earlier)
