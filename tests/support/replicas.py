"""What two (or more) operator replicas did, each through its own recording proxy.

Attributes every request to the replica that made it: how many pod and Lease creations each got
accepted or refused (409: the other was first), how many final statuses each wrote, the Events
both posted. The design lets replicas duplicate work; what must not happen is two different
results for one Transaction (:func:`invariants.conflicting_finals`) or Events multiplied beyond
one per replica.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tests.support import invariants
from tests.support.apiproxy import Record

SHOWN = 5  # repeated Events listed in the report


@dataclass
class ReplicaReport:
    transactions: int
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # replica -> figure -> count
    events: int = 0
    distinct_events: int = 0
    events_repeated: int = 0  # (Transaction, reason, message) posted more than once
    most_repeated_event: int = 0
    final_writes: int = 0
    repeated_finals: int = 0  # the same final status written again (duplicate work)
    conflicting_finals: list[str] = field(default_factory=list)
    repeated_events: list[str] = field(default_factory=list)  # the most repeated, with who posted them

    def table(self) -> str:
        figures = list(next(iter(self.rows.values()), {}))
        width = max([len(f) for f in figures] + [10])
        lines = [f"  {'':<{width}}  " + "  ".join(f"{name:>8}" for name in self.rows)]
        for figure in figures:
            lines.append(f"  {figure:<{width}}  "
                         + "  ".join(f"{row[figure]:>8}" for row in self.rows.values()))
        n = max(1, self.transactions)
        lines.append(f"  Events: {self.events} ({self.events / n:.1f} per Transaction), "
                     f"{self.distinct_events} distinct, {self.events_repeated} posted more than once "
                     f"(at most {self.most_repeated_event} times)")
        lines.extend(f"    {line}" for line in self.repeated_events)
        lines.append(f"  final statuses written: {self.final_writes} for {self.transactions} Transactions "
                     f"({self.repeated_finals} repeated with the same content, "
                     f"{len(self.conflicting_finals)} Transactions with different ones)")
        return "\n".join(lines)


def _count(records: Sequence[Record], verb: str, resource: str, ok: bool) -> int:
    return sum(1 for r in records if r.info.verb == verb and r.info.full_resource == resource
               and not r.fault and ((200 <= r.status < 300) if ok else r.status == 409))


def replica_report(by_replica: Mapping[str, Sequence[Record]], transactions: int) -> ReplicaReport:
    report = ReplicaReport(transactions)
    for name, records in by_replica.items():
        report.rows[name] = {
            "requests": len(records),
            "pods created": _count(records, "create", "pods", ok=True),
            "pod creates refused (409)": _count(records, "create", "pods", ok=False),
            "Leases created": _count(records, "create", "leases", ok=True),
            "Lease creates refused (409)": _count(records, "create", "leases", ok=False),
            "final statuses written": sum(len(s) for s in invariants.final_writes(records).values()),
            "Events posted": sum(invariants.events(records).values()),
        }
    everything = sorted((r for records in by_replica.values() for r in records), key=lambda r: r.started)
    posted = invariants.events(everything)
    report.events = sum(posted.values())
    report.distinct_events = len(posted)
    report.events_repeated = sum(1 for n in posted.values() if n > 1)
    report.most_repeated_event = max(posted.values(), default=0)
    per_replica = {name: invariants.events(records) for name, records in by_replica.items()}
    for key, n in posted.most_common(SHOWN):
        if n > 1:
            namespace, involved, reason, message = key
            who = ", ".join(f"{name} {counts[key]}" for name, counts in per_replica.items() if counts[key])
            report.repeated_events.append(f"{n}x {namespace}/{involved} {reason}: {message[:80]!r} ({who})")
    report.final_writes = sum(len(s) for s in invariants.final_writes(everything).values())
    report.repeated_finals = invariants.repeated_finals(everything)
    report.conflicting_finals = invariants.conflicting_finals(everything)
    return report
