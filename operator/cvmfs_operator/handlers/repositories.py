"""kopf wiring for Repositories: a health timer that reads the Stratum 0 and writes status.

Each Repository has its own timer; the S3 reads are bounded by short timeouts, so an unreachable
Stratum 0 delays only its own Repository's status, never another's, and never the Transactions.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any, cast

import kopf

from cvmfs_operator.api import validation
from cvmfs_operator.api.types import (
    GROUP,
    REPOSITORY_PLURAL,
    VERSION,
    Condition,
    Repository,
    RepositoryStatus,
)
from cvmfs_operator.clients.errors import KubeError
from cvmfs_operator.handlers import stratum0_access
from cvmfs_operator.handlers.metrics import summarize_pods
from cvmfs_operator.handlers.runtime import Logger, Runtime
from cvmfs_operator.handlers.transactions import INDEX
from cvmfs_operator.reconcile import orphans, reflog
from cvmfs_operator.reconcile.observed import QueueEntry, queue_length
from cvmfs_operator.render import names
from cvmfs_operator.stratum0 import InvalidConfiguration, Observation, Stratum0Error, assess_health, observe
from cvmfs_operator.stratum0.whitelist import Whitelist


def _ready(conditions: Sequence[Condition]) -> tuple[str, str, str] | None:
    for condition in conditions:
        if condition["type"] == "Ready":
            return condition["status"], condition["reason"], condition["message"]
    return None


def register(registry: kopf.OperatorRegistry, rt: Runtime,
             readers: stratum0_access.ReaderFactory = stratum0_access.reader_for) -> None:
    @kopf.timer(GROUP, VERSION, REPOSITORY_PLURAL, registry=registry, id="health",
                interval=rt.settings.health_interval, initial_delay=0.0, sharp=False)
    def health(name: str, body: kopf.Body, meta: kopf.Meta, status: kopf.Status, logger: Logger,
               **kwargs: Any) -> None:
        """Read manifest and whitelist; write revision, expiry, queue length and conditions."""
        repo = cast(Repository, dict(body))
        observation: Observation | Stratum0Error
        errors = validation.repository_errors(repo)
        if errors:
            observation = InvalidConfiguration(f"the Repository is invalid: {'; '.join(errors)}")
        else:
            try:
                observation = observe(readers(rt, repo))
            except Stratum0Error as error:
                observation = error
            except KubeError as error:
                observation = InvalidConfiguration(f"cannot read the S3 credentials: {error}")
        previous = list(status.get("conditions") or [])
        new = assess_health(
            observation, now=datetime.datetime.now(datetime.UTC), fqrn=name, previous=previous,
            warn_before=datetime.timedelta(days=rt.settings.whitelist_warning_days),
            observed_generation=meta.get("generation"), reflog_mismatch=reflog.unacknowledged(repo))
        entries: Sequence[QueueEntry] = list(kwargs[INDEX].get(name, []))
        active = status.get("activeTransaction") or {}
        waiting = queue_length(entries, active.get("uid"))
        patch: dict[str, Any] = dict(new)
        patch["queueLength"] = waiting
        if meta.get("generation") is not None:
            patch["observedGeneration"] = meta.get("generation")
        rt.metrics.queue_length.labels(name).set(waiting)
        rt.metrics.queue(name, entries, active.get("uid"))
        _record_health(rt, name, observation, new)
        try:
            rt.kube.patch_repository_status(name, patch)
        except KubeError as error:
            raise kopf.TemporaryError(str(error), delay=rt.settings.health_interval) from None
        _sweep_orphans(rt, repo, logger)
        before, after = _ready(previous), _ready(new.get("conditions", []))
        if after is not None and (before is None or before[:2] != after[:2]):
            (logger.info if after[0] == "True" else logger.warning)("Ready=%s %s: %s", *after)
            rt.kube.post_event(repo, "Normal" if after[0] == "True" else "Warning", after[1], after[2])

    @kopf.on.delete(GROUP, VERSION, REPOSITORY_PLURAL, registry=registry, id="forget-metrics", optional=True)
    def forget_metrics(name: str, **_: Any) -> None:
        """Drop a deleted Repository's gauges (no finalizer: a missed deletion only keeps them
        until the operator restarts)."""
        rt.metrics.forget_repository(name)


def _record_health(rt: Runtime, fqrn: str, observation: Observation | Stratum0Error,
                   status: RepositoryStatus) -> None:
    ready = _ready(status.get("conditions", []))
    whitelist = observation.whitelist if isinstance(observation, Observation) else None
    rt.metrics.repository_health(
        fqrn, ready=ready is not None and ready[0] == "True", reason=ready[1] if ready else "Unknown",
        whitelist_expiry=whitelist.effective_expiry if isinstance(whitelist, Whitelist) else None,
        revision=status.get("revision"))


def _sweep_orphans(rt: Runtime, repo: Repository, logger: Logger) -> None:
    """Stop publisher pods whose Transaction is gone; forget such an active Transaction."""
    fqrn = repo["metadata"]["name"]
    try:
        pods = rt.kube.list_pods(rt.settings.namespace, {
            names.LABEL_COMPONENT: "publisher", names.LABEL_REPOSITORY: names.label_value(fqrn)})
        rt.metrics.publisher_pods(fqrn, summarize_pods(pods, datetime.datetime.now(datetime.UTC)))
        current: dict[tuple[str, str], str | None] = {}
        active = (repo.get("status") or {}).get("activeTransaction")
        refs = [o[:2] for o in map(orphans.owner, pods) if o is not None]
        if active:
            refs.append((active["namespace"], active["name"]))
        for namespace, name in set(refs):
            txn = rt.kube.get_transaction(namespace, name)
            current[(namespace, name)] = txn["metadata"].get("uid") if txn else None
        for orphan in orphans.orphans(pods, current):
            rt.kube.delete_pod(rt.settings.namespace, orphan.pod)
            message = f"Deleted publisher pod {orphan.pod}: its Transaction {orphan.transaction} is gone"
            logger.warning("%s", message)
            rt.kube.post_event(repo, "Warning", "OrphanPodDeleted", message)
        if active and current.get((active["namespace"], active["name"])) != active["uid"]:
            rt.kube.patch_repository_status(fqrn, {"activeTransaction": None})
    except KubeError as error:
        logger.warning("Could not look for orphaned publisher pods: %s", error)
