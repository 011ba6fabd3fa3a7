"""Which ``reflog.chksum`` a publisher pod gets, or why none may start (pure).

``cvmfs_server publish`` refuses to sign when the bucket's ``.cvmfsreflog`` is not the one the
checksum names (CVMFS.md §1.8): someone published with another tool, a backup was restored, the
repository was re-created. That refusal comes only after the whole upload, and every following
Transaction would meet it again. So before a pod starts, the checksum the operator would hand over
(``Repository.status.reflogChecksum``, from its last publish) is compared with the hash of the
bucket's reflog. On a mismatch nothing starts until an administrator acknowledges the bucket's
state by annotating the Repository with the bucket's checksum (:data:`ACKNOWLEDGE_ANNOTATION`);
publishing then resumes from the bucket's reflog. A repository the operator never published to
starts from the bucket's checksum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cvmfs_operator.api.types import GROUP, Repository
from cvmfs_operator.reconcile.observed import Stratum0View

ACKNOWLEDGE_ANNOTATION = f"{GROUP}/accept-reflog-checksum"
NO_REFLOG = "none"  # the acknowledgement of a bucket that holds no .cvmfsreflog at all


@dataclass(frozen=True)
class HandOver:
    checksum: str | None  # None: the pod falls back to the manifest's Y (no reflog in the bucket)


@dataclass(frozen=True)
class Mismatch:
    message: str
    record: dict[str, Any]  # Repository.status.reflogMismatch


def decide(repo: Repository, s0: Stratum0View, *, now: str) -> HandOver | Mismatch:
    status = repo.get("status") or {}
    expected = status.get("reflogChecksum")
    found = s0.bucket_reflog
    if not expected or expected == found:
        return HandOver(found)
    acknowledged = (repo["metadata"].get("annotations") or {}).get(ACKNOWLEDGE_ANNOTATION)
    if acknowledged == (found or NO_REFLOG):
        return HandOver(found)
    fqrn = repo["metadata"]["name"]
    last = status.get("reflogRevision")
    holds = "no .cvmfsreflog" if found is None else f".cvmfsreflog {found[:12]}"
    message = (
        f"repository {fqrn} changed outside this operator: the bucket holds revision {s0.revision} "
        f"with {holds}, but the operator last published revision {last} with reflog {expected[:12]}. "
        "Nothing is published until an administrator checks the repository and acknowledges it: "
        f"kubectl annotate repository {fqrn} --overwrite {ACKNOWLEDGE_ANNOTATION}={found or NO_REFLOG}")
    record = {"expected": expected, "found": found or NO_REFLOG, "bucketRevision": s0.revision,
              "lastPublishedRevision": last, "detectedAt": now}
    return Mismatch(message, record)


def unacknowledged(repo: Repository) -> str | None:
    """The message for the Repository's conditions while a recorded mismatch is unacknowledged."""
    status = repo.get("status") or {}
    mismatch = status.get("reflogMismatch")
    if not mismatch:
        return None
    acknowledged = (repo["metadata"].get("annotations") or {}).get(ACKNOWLEDGE_ANNOTATION)
    if acknowledged == mismatch.get("found"):
        return None
    return (f"the bucket's .cvmfsreflog ({str(mismatch.get('found'))[:12]}, revision "
            f"{mismatch.get('bucketRevision')}) is not the one of the operator's last publish (revision "
            f"{mismatch.get('lastPublishedRevision')}); publishing is stopped until it is acknowledged "
            f"with the annotation {ACKNOWLEDGE_ANNOTATION}={mismatch.get('found')}")
