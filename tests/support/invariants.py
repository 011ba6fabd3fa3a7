"""The invariants of a run, counted from what the API server, the recording proxy, the simulated
kubelet and the repositories themselves hold (never from the operator's own account of it).

* never two publisher pods active for one repository (the kubelet samples every poll);
* never two pods for one attempt (pod creations the API server accepted, by Transaction uid and
  attempt, and pod names the kubelet started twice);
* every Transaction final exactly once: one status write with a final phase, none after it;
* published exactly once: each Transaction's tag in its repository, and the repository's revision
  advanced by exactly the number of Transactions that published;
* nothing left behind: no publisher pod and no lock Lease in the operator's namespace.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cvmfs_operator.clients.kube import KubeClient
from cvmfs_operator.render import names
from cvmfs_operator.stratum0.manifest import parse_manifest
from cvmfs_operator.stratum0.reader import data_object_name
from cvmfs_operator.stratum0.simulated import ObjectStore
from cvmfs_operator.stratum0.tags import list_tags
from tests.support.apiproxy import Record

FINAL = frozenset({"Succeeded", "Failed", "Cancelled"})
SEED_REVISION = 2  # simulated.seed_repository


@dataclass
class Invariants:
    overlaps: int = 0  # kubelet samples with two active publisher pods of one repository
    pods_twice_for_one_attempt: int = 0
    not_final: list[str] = field(default_factory=list)
    final_written_twice: list[str] = field(default_factory=list)  # final phase written more than once
    left_final: list[str] = field(default_factory=list)  # a non-final phase written after a final one
    wrong_phase: list[str] = field(default_factory=list)  # final, but not the expected phase
    tags_missing: list[str] = field(default_factory=list)
    extra_revisions: dict[str, int] = field(default_factory=dict)  # revisions beyond one per publish
    orphan_pods: list[str] = field(default_factory=list)
    orphan_leases: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "two publisher pods of one repository at once": self.overlaps,
            "two pods for one attempt": self.pods_twice_for_one_attempt,
            "Transactions not final": len(self.not_final),
            "final phase written more than once": len(self.final_written_twice),
            "non-final phase written after a final one": len(self.left_final),
            "final in the wrong phase": len(self.wrong_phase),
            "tags missing from the repository": len(self.tags_missing),
            "revisions published beyond one per Transaction": sum(self.extra_revisions.values()),
            "publisher pods left": len(self.orphan_pods),
            "lock Leases left": len(self.orphan_leases),
        }

    def violations(self) -> dict[str, int]:
        return {what: n for what, n in self.counts().items() if n}

    def table(self) -> str:
        width = max(len(k) for k in self.counts())
        return "\n".join(f"  {what:<{width}}  {n}" for what, n in self.counts().items())


def _body(record: Record) -> dict[str, Any]:
    try:
        data = json.loads(record.body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def accepted(records: Iterable[Record]) -> list[Record]:
    return [r for r in records if 200 <= r.status < 300 and not r.fault]


def status_phases(records: Iterable[Record]) -> dict[tuple[str, str], list[str]]:
    """The phases written to each Transaction's status, in order (writes the API server accepted)."""
    phases: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    for r in accepted(records):
        if r.info.verb == "patch" and r.info.full_resource == "transactions/status":
            phase = (_body(r).get("status") or {}).get("phase")
            if phase:
                phases[(r.info.namespace, r.info.name)].append(str(phase))
    return phases


@dataclass(frozen=True)
class PodCreation:
    at: float  # when the request reached the proxy
    name: str
    labels: dict[str, str]
    seconds: float = 0.0  # until the API server's answer


def pod_creations(records: Iterable[Record]) -> list[PodCreation]:
    """Every publisher pod creation the API server accepted, in order."""
    found = []
    for r in accepted(records):
        if r.info.verb == "create" and r.info.resource == "pods" and not r.info.subresource:
            meta = _body(r).get("metadata") or {}
            labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
            if labels.get(names.LABEL_COMPONENT) == "publisher":
                found.append(PodCreation(r.started, str(meta.get("name", "")), labels, r.duration))
    return found


def repository_tags(store: ObjectStore) -> tuple[int, set[str]]:
    """(revision, tag names) of a simulated repository, read from its storage."""
    raw = store.get(".cvmfspublished")
    if raw is None:
        return 0, set()
    manifest = parse_manifest(raw)
    tags: set[str] = set()
    if manifest.tag_db_hash:
        database = store.get(data_object_name(manifest.tag_db_hash, "H"))
        if database is not None:
            tags = {t.name for t in list_tags(database)}
    return manifest.revision, tags


def check(*, records: Iterable[Record], kube: KubeClient, operator_namespace: str,
          transactions: Mapping[tuple[str, str], str], expected_phase: str = "Succeeded",
          overlaps: int = 0, started_pods: Iterable[str] = (),
          stores: Mapping[str, ObjectStore] | None = None) -> Invariants:
    """``transactions`` maps (namespace, name) to its repository; ``stores`` maps a repository to
    its storage (None: the repository is not read, e.g. on a real cluster with real publishers)."""
    records = list(records)
    inv = Invariants(overlaps=overlaps)
    attempts = collections.Counter(
        (p.labels.get(names.LABEL_TRANSACTION_UID), p.labels.get(names.LABEL_ATTEMPT))
        for p in pod_creations(records))
    started = collections.Counter(started_pods)
    inv.pods_twice_for_one_attempt = (sum(n - 1 for n in attempts.values() if n > 1)
                                      + sum(n - 1 for n in started.values() if n > 1))
    written = status_phases(records)
    for (namespace, name) in transactions:
        key = f"{namespace}/{name}"
        txn: Mapping[str, Any] = kube.get_transaction(namespace, name) or {}
        phase = (txn.get("status") or {}).get("phase")
        if phase not in FINAL:
            inv.not_final.append(f"{key}: {phase}")
        elif phase != expected_phase:
            inv.wrong_phase.append(f"{key}: {phase}")
        phases = written.get((namespace, name), [])
        finals = [i for i, p in enumerate(phases) if p in FINAL]
        if len(finals) > 1:
            inv.final_written_twice.append(f"{key}: {phases}")
        if finals and any(p not in FINAL for p in phases[finals[0]:]):
            inv.left_final.append(f"{key}: {phases}")
    if stores is not None:
        per_repo = collections.Counter(transactions.values())
        for fqrn, count in per_repo.items():
            revision, tags = repository_tags(stores[fqrn])
            for (namespace, name), repo in transactions.items():
                if repo == fqrn and f"{namespace}_{name}" not in tags:
                    inv.tags_missing.append(f"{fqrn}: {namespace}_{name}")
            if revision - SEED_REVISION > count:
                inv.extra_revisions[fqrn] = revision - SEED_REVISION - count
    pods = kube.list_pods(operator_namespace, {names.LABEL_COMPONENT: "publisher"})
    inv.orphan_pods = [p["metadata"]["name"] for p in pods]
    leases = kube._call("list Leases", kube.coordination.list_namespaced_lease, operator_namespace)
    inv.orphan_leases = [item["metadata"]["name"] for item in leases.get("items", [])
                         if item["metadata"]["name"].startswith("cvmfs-lock-")]
    return inv


# Two operators at once (tests/integration/operator/test_two_replicas.py): both may record the same
# result, which is duplicate work; recording two different results is a violation.

CLOCK_FIELDS = frozenset({"completionTime", "duration", "timeline"})  # differ with the writer's clock


def final_writes(records: Iterable[Record]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The final statuses written to each Transaction (writes the API server accepted), in order."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for r in sorted(accepted(records), key=lambda r: r.started):
        if r.info.verb == "patch" and r.info.full_resource == "transactions/status":
            status = _body(r).get("status") or {}
            if status.get("phase") in FINAL:
                found[(r.info.namespace, r.info.name)].append(dict(status))
    return found


def final_content(status: Mapping[str, Any]) -> str:
    """A final status without what only the writer's clock decides (times, durations, condition
    transition times): two writers recording the same result give the same text."""
    content = {k: v for k, v in status.items() if k not in CLOCK_FIELDS and k != "conditions"}
    content["conditions"] = sorted((c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
                                   for c in status.get("conditions") or [])
    return json.dumps(content, sort_keys=True, default=str)


def conflicting_finals(records: Iterable[Record]) -> list[str]:
    """Transactions whose final status was written more than once with different content."""
    found = []
    for (namespace, name), statuses in final_writes(records).items():
        contents = {final_content(s) for s in statuses}
        if len(contents) > 1:
            summary = [f"{s.get('phase')}/{s.get('reason')} rev {s.get('revisionAfter')}" for s in statuses]
            found.append(f"{namespace}/{name}: {summary}")
    return found


def repeated_finals(records: Iterable[Record]) -> int:
    """Final statuses written again with the same content (duplicate work, not a violation)."""
    return sum(len(statuses) - len({final_content(s) for s in statuses})
               for statuses in final_writes(records).values())


def events(records: Iterable[Record]) -> collections.Counter[tuple[str, str, str, str]]:
    """Events the API server accepted, by (namespace, involved object, reason, message)."""
    found: collections.Counter[tuple[str, str, str, str]] = collections.Counter()
    for r in accepted(records):
        if r.info.verb == "create" and r.info.resource == "events" and not r.info.group:
            body = _body(r)
            involved = body.get("involvedObject") or {}
            found[(str(involved.get("namespace") or r.info.namespace), str(involved.get("name", "")),
                   str(body.get("reason", "")), str(body.get("message", "")))] += 1
    return found
