"""The operator's Prometheus metrics, and the pure summaries that feed the gauges.

Label values are bounded: a repository name, a phase, a reason or error class, a publisher step, a
pod state. Never a Transaction or pod name (one series per Transaction would grow without end).
Times are exported as Unix timestamps (``..._timestamp_seconds``), so alerting rules compute
ages with ``time() - x`` and a gauge read a minute ago is still right.

Every name here is referenced by the alerting rules and the Grafana dashboard in
``charts/cvmfs-release-operator/files/``; a test scrapes a running operator to prove they exist.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import prometheus_client

from cvmfs_operator.reconcile.observed import QueueEntry, parse_time

API_ERROR_KINDS = ("kubernetes", "stratum0")
RECONCILED_KINDS = ("Transaction", "RepositoryOperation")
POD_STATES = ("Pending", "Running", "Overdue", "Terminating", "Finished")
# A Running publisher pod this long past its activeDeadlineSeconds should have been killed by the
# kubelet: it is counted as Overdue.
OVERDUE_SLACK = datetime.timedelta(minutes=5)
DURATION_BUCKETS = (10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
STEP_BUCKETS = (0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)


def version() -> str:
    try:
        return metadata.version("cvmfs-release-operator")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


@dataclass(frozen=True)
class PodSummary:
    """Publisher pods of one repository: how many per state, and since when the oldest one is in
    it (Pending: created; Running, Overdue: started; Terminating: deletion due)."""

    counts: Mapping[str, int]
    oldest: Mapping[str, datetime.datetime]


def _pod_state(pod: Mapping[str, Any], now: datetime.datetime) -> tuple[str, datetime.datetime | None]:
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    created = parse_time(meta.get("creationTimestamp"))
    phase = status.get("phase") or "Pending"
    if phase in ("Succeeded", "Failed"):
        return "Finished", None
    deleting = parse_time(meta.get("deletionTimestamp"))
    if deleting is not None:
        return "Terminating", deleting
    if phase != "Running":
        return "Pending", created
    started = parse_time(status.get("startTime")) or created
    deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    if started is not None and isinstance(deadline, int | float) \
            and now > started + datetime.timedelta(seconds=deadline) + OVERDUE_SLACK:
        return "Overdue", started
    return "Running", started


def summarize_pods(pods: Iterable[Mapping[str, Any]], now: datetime.datetime) -> PodSummary:
    counts = dict.fromkeys(POD_STATES, 0)
    oldest: dict[str, datetime.datetime] = {}
    for pod in pods:
        state, since = _pod_state(pod, now)
        counts[state] += 1
        if since is not None and (state not in oldest or since < oldest[state]):
            oldest[state] = since
    return PodSummary(counts, oldest)


def oldest_waiting(entries: Sequence[QueueEntry], running_uid: str | None) -> datetime.datetime | None:
    """Creation time of the oldest Transaction that waits (every unfinished one but the running)."""
    times = [parse_time(e.created) for e in entries if e.uid != running_uid]
    known = [t for t in times if t is not None]
    return min(known) if known else None


class Metrics:
    """Prometheus metrics, in a registry of their own so tests and the demo can run several."""

    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        r = self.registry
        self.build_info = prometheus_client.Gauge(
            "cvmfs_operator_build_info", "Always 1: the operator is up; its version as a label",
            ["version"], registry=r)
        self.finished = prometheus_client.Counter(
            "cvmfs_operator_transactions_finished_total", "Transactions that reached a final phase",
            ["repository", "phase", "reason"], registry=r)
        self.operations_finished = prometheus_client.Counter(
            "cvmfs_operator_operations_finished_total",
            "RepositoryOperations that reached a final phase, per operation (rollback, tag, resign, gc, "
            "check)", ["repository", "operation", "phase", "reason"], registry=r)
        self.publish_seconds = prometheus_client.Histogram(
            "cvmfs_operator_publish_duration_seconds", "From publisher pod start to recorded result",
            ["repository"], registry=r, buckets=DURATION_BUCKETS)
        self.step_seconds = prometheus_client.Histogram(
            "cvmfs_operator_publish_step_duration_seconds",
            "Seconds per publisher step (mount, transaction, fetch, payload, publish, ...) as the "
            "publisher reported them, observed when a Transaction finishes",
            ["repository", "step"], registry=r, buckets=STEP_BUCKETS)
        self.phase_seconds = prometheus_client.Histogram(
            "cvmfs_operator_transaction_phase_duration_seconds",
            "Where a finished Transaction's time went outside the publisher's steps (status.timeline): "
            "queued, podStartup, publisher, recording, verification",
            ["repository", "phase"], registry=r, buckets=STEP_BUCKETS)
        self.queue_length = prometheus_client.Gauge(
            "cvmfs_operator_queue_length", "Transactions waiting for a repository",
            ["repository"], registry=r)
        self.queue_oldest = prometheus_client.Gauge(
            "cvmfs_operator_queue_oldest_timestamp_seconds",
            "Creation time of the oldest Transaction waiting for a repository (no series: none waits)",
            ["repository"], registry=r)
        self.pods_started = prometheus_client.Counter(
            "cvmfs_operator_publisher_pods_started_total", "Publisher pods created",
            ["repository"], registry=r)
        self.pods = prometheus_client.Gauge(
            "cvmfs_operator_publisher_pods",
            "Publisher pods per state: Pending, Running, Overdue (running past its deadline), "
            "Terminating, Finished (kept for ttlSecondsAfterFinished)",
            ["repository", "state"], registry=r)
        self.pods_oldest = prometheus_client.Gauge(
            "cvmfs_operator_publisher_pod_oldest_timestamp_seconds",
            "Since when the oldest publisher pod is in its state (Pending: created, Running and "
            "Overdue: started, Terminating: deletion due)",
            ["repository", "state"], registry=r)
        self.reconcile_steps = prometheus_client.Counter(
            "cvmfs_operator_reconcile_steps_total",
            "Control-loop steps (observe, decide, act until it waits) per kind, Transaction or "
            "RepositoryOperation: most end in a wait without a request; far more steps than "
            "finished objects means daemons are woken for nothing", ["kind"], registry=r)
        self.stratum0_reads = prometheus_client.Counter(
            "cvmfs_operator_stratum0_reads_total",
            "Reads of a repository by Transactions and RepositoryOperations (its manifest, tag database "
            "and, before a pod, its reflog): purpose start (before a pod: exactly-once and the reflog "
            "check) or verify (a reported result checked)", ["purpose"], registry=r)
        self.handed_reads = prometheus_client.Counter(
            "cvmfs_operator_stratum0_reads_handed_total",
            "Starts decided without a read of their own (a pod created, or the tag found already "
            "published): the one that handed them the lock had just read the repository",
            registry=r)
        self.api_errors = prometheus_client.Counter(
            "cvmfs_operator_api_errors_total", "Failed calls to the Kubernetes API or Stratum 0",
            ["kind"], registry=r)
        self.repository_ready = prometheus_client.Gauge(
            "cvmfs_operator_repository_ready",
            "1 when the Repository's Ready condition is True, else 0; reason: the condition's reason",
            ["repository", "reason"], registry=r)
        self.whitelist_expiry = prometheus_client.Gauge(
            "cvmfs_operator_repository_whitelist_expiry_timestamp_seconds",
            "When clients start refusing the repository: the whitelist expiry, truncated to the hour "
            "as clients judge it (the last value read is kept while the whitelist cannot be read)",
            ["repository"], registry=r)
        self.revision = prometheus_client.Gauge(
            "cvmfs_operator_repository_revision", "The repository's revision, from its manifest",
            ["repository"], registry=r)
        self._ready_reason: dict[str, str] = {}
        self._pod_series: set[str] = set()  # repositories that have publisher pod gauges
        self.build_info.labels(version()).set(1)
        for kind in API_ERROR_KINDS:  # rate() sees the first error only if the series exists before it
            self.api_errors.labels(kind)
        for kind in RECONCILED_KINDS:
            self.reconcile_steps.labels(kind)

    def transaction_finished(self, repository: str, phase: str, reason: str,
                             durations: Mapping[str, Any] | None) -> None:
        self.finished.labels(repository, phase, reason).inc()
        for step, seconds in (durations or {}).items():
            if isinstance(seconds, int | float) and not isinstance(seconds, bool):
                self.step_seconds.labels(repository, str(step)).observe(max(0.0, float(seconds)))

    def operation_finished(self, repository: str, operation: str, phase: str, reason: str) -> None:
        self.operations_finished.labels(repository, operation, phase, reason).inc()

    def transaction_timeline(self, repository: str, timeline: Mapping[str, Any] | None) -> None:
        for phase, seconds in (timeline or {}).items():
            if isinstance(seconds, int | float) and not isinstance(seconds, bool):
                self.phase_seconds.labels(repository, str(phase)).observe(max(0.0, float(seconds)))

    def queue(self, repository: str, entries: Sequence[QueueEntry], running_uid: str | None) -> None:
        oldest = oldest_waiting(entries, running_uid)
        if oldest is None:
            self._remove(self.queue_oldest, repository)
        else:
            self.queue_oldest.labels(repository).set(oldest.timestamp())

    def publisher_pods(self, repository: str, summary: PodSummary) -> None:
        """A repository's pod gauges exist from its first publisher pod on: thousands of
        Repositories that never publish cost no series."""
        if not any(summary.counts.values()) and repository not in self._pod_series:
            return
        self._pod_series.add(repository)
        for state in POD_STATES:
            self.pods.labels(repository, state).set(summary.counts.get(state, 0))
            since = summary.oldest.get(state)
            if since is None:
                self._remove(self.pods_oldest, repository, state)
            else:
                self.pods_oldest.labels(repository, state).set(since.timestamp())

    def repository_health(self, repository: str, *, ready: bool, reason: str,
                          whitelist_expiry: datetime.datetime | None, revision: int | None) -> None:
        previous = self._ready_reason.get(repository)
        if previous is not None and previous != reason:  # one series per repository
            self._remove(self.repository_ready, repository, previous)
        self._ready_reason[repository] = reason
        self.repository_ready.labels(repository, reason).set(1 if ready else 0)
        if whitelist_expiry is not None:
            self.whitelist_expiry.labels(repository).set(whitelist_expiry.timestamp())
        if revision is not None:
            self.revision.labels(repository).set(revision)

    def forget_repository(self, repository: str) -> None:
        """Drop the gauges of a deleted Repository (counters and histograms stay: they are history)."""
        for gauge in (self.queue_length, self.queue_oldest, self.whitelist_expiry, self.revision):
            self._remove(gauge, repository)
        reason = self._ready_reason.pop(repository, None)
        if reason is not None:
            self._remove(self.repository_ready, repository, reason)
        self._pod_series.discard(repository)
        for state in POD_STATES:
            self._remove(self.pods, repository, state)
            self._remove(self.pods_oldest, repository, state)

    @staticmethod
    def _remove(gauge: prometheus_client.Gauge, *labels: str) -> None:
        with contextlib.suppress(KeyError):  # never set (older prometheus_client versions raise)
            gauge.remove(*labels)

