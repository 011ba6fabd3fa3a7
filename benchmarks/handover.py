"""Where a hand-over's time goes: the requests between one pod's end and the next pod's creation.

For each hand-over of the burst case (a publisher pod's final phase written by the kubelet and
answered by the API server → the next pod of that repository created), the operator's own
requests in between are found by name in the recording proxy's log: the Repository status write
that records the result, the predecessor's final Transaction status write, the Lease hand-over
and the pod creation. Their offsets from the pod's end show what the operator spent outside the
API server (a watch delivery, an S3 read, a thread hand-off) and what the API server took.
Medians over all hand-overs.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tests.support.apiproxy import Record

from cvmfs_operator.render import names


@dataclass(frozen=True)
class HandOver:
    repository: str
    predecessor: str  # the Transaction whose pod ended (its name)
    ended: float  # the API server answered the kubelet's final status write of its pod
    end_sent: float  # that write reached the kubelet's proxy
    created: float  # the next pod's creation reached the proxy
    create_seconds: float  # how long the API server took to accept it


MARKS = (
    ("repo", "Repository result write"),
    ("txn", "the predecessor's final status write"),
    ("lease", "Lease hand-over"),
    ("created", "next pod creation"),
)


def _first(records: Sequence[Record], after: float, before: float, full_resource: str, name: str,
            verb: str = "patch") -> Record | None:
    for r in records:
        if after <= r.started <= before and r.status < 300 and r.info.verb == verb \
                and r.info.full_resource == full_resource and r.info.name == name:
            return r
    return None


def breakdown(records: Iterable[Record], hand_overs: Iterable[HandOver]) -> list[tuple[str, str]]:
    """Per request on the path: when it was sent and when it was answered, as median offsets from
    the pod's end (rows "label", "sent +X ms, answered +Y ms (n)"). A hand-over lacking one of the
    writes is left out of that row (a predecessor that failed records nothing on the Repository)."""
    ordered = sorted(records, key=lambda r: r.started)
    sent: dict[str, list[float]] = {key: [] for key, _ in MARKS}
    answered: dict[str, list[float]] = {key: [] for key, _ in MARKS}
    for h in hand_overs:
        found = {
            "repo": _first(ordered, h.ended, h.created, "repositories/status", h.repository),
            "txn": _first(ordered, h.ended, h.created + 5.0, "transactions/status", h.predecessor),
            "lease": _first(ordered, h.ended, h.created, "leases", names.lock_name(h.repository)),
        }
        for key, record in found.items():
            if record is not None:
                sent[key].append(record.started - h.ended)
                answered[key].append(record.started + record.duration - h.ended)
        sent["created"].append(h.created - h.ended)
        answered["created"].append(h.created + h.create_seconds - h.ended)
    rows = []
    for key, label in MARKS:
        if sent[key]:
            rows.append((label, f"sent +{statistics.median(sent[key]) * 1000:.0f} ms, answered "
                                f"+{statistics.median(answered[key]) * 1000:.0f} ms ({len(sent[key])})"))
        else:
            rows.append((label, "-"))
    return rows
