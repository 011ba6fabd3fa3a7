"""kopf wiring for Repositories: the health loop reads each Stratum 0 and writes status.

kopf reports Repository events to the health loop (handlers/health_loop.py), which reads each
Repository's Stratum 0 on its own jittered schedule with a bounded number of threads, backs off
from endpoints that do not answer, and once per interval sweeps every Repository's publisher
pods with a single list. The status is written only when it changed (not for new words on an
endpoint that still does not answer); the whitelist is read again only after a publish or every
``WHITELIST_READS_EVERY`` intervals. An endpoint that did not answer is not tried again for one
interval by the other Repositories on it (stratum0/endpoints.py).
"""

from __future__ import annotations

import collections
import datetime
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
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
from cvmfs_operator.clients.cache import trim_object
from cvmfs_operator.clients.errors import KubeError
from cvmfs_operator.handlers import creation, stratum0_access
from cvmfs_operator.handlers.health_loop import HealthLoop
from cvmfs_operator.handlers.maintenance import Maintenance
from cvmfs_operator.handlers.metrics import summarize_pods
from cvmfs_operator.handlers.runtime import Logger, Runtime
from cvmfs_operator.handlers.transactions import INDEX, OPERATIONS_INDEX, queue_lookup
from cvmfs_operator.reconcile import orphans, reflog
from cvmfs_operator.reconcile.observed import QueueEntry, queue_length
from cvmfs_operator.render import names
from cvmfs_operator.stratum0 import (
    InvalidConfiguration,
    Manifest,
    Observation,
    Stratum0Error,
    assess_health,
    observe,
)
from cvmfs_operator.stratum0.endpoints import UnansweredEndpoints, resolves
from cvmfs_operator.stratum0.errors import as_value
from cvmfs_operator.stratum0.health import still_unreachable
from cvmfs_operator.stratum0.maintenance_health import maintenance_conditions
from cvmfs_operator.stratum0.observation import KnownWhitelist
from cvmfs_operator.stratum0.whitelist import Whitelist

LOG = logging.getLogger(__name__)
WHITELIST_READS_EVERY = 10  # health intervals: the whitelist is read at least this often


def _ready(conditions: Sequence[Condition]) -> tuple[str, str, str] | None:
    for condition in conditions:
        if condition["type"] == "Ready":
            return condition["status"], condition["reason"], condition["message"]
    return None


class _Context:
    """What kopf hands over at start-up (its settings, for object loggers; the queue index), and
    the endpoints that did not answer lately."""

    def __init__(self, endpoints: UnansweredEndpoints, whitelist_max_age: float) -> None:
        self.endpoints = endpoints
        self.settings: kopf.OperatorSettings | None = None
        self.index: Any = None
        self.queue: Callable[[str], Sequence[QueueEntry]] = lambda name: []
        # Whitelists read lately, per Repository (dropped with it): re-read on a publish, after a
        # failure, or when older than whitelist_max_age (a re-signed one is seen by then).
        self.whitelist_max_age = whitelist_max_age
        self.whitelists: dict[str, tuple[float, KnownWhitelist]] = {}
        self.maintenance = Maintenance()  # scheduled operations and re-signing, created when due
        self._guard = threading.Lock()

    def known_whitelist(self, name: str) -> KnownWhitelist | None:
        with self._guard:
            found = self.whitelists.get(name)
        return found[1] if found is not None and time.monotonic() - found[0] < self.whitelist_max_age \
            else None

    def remember(self, name: str, observation: Observation | Stratum0Error,
                 known: KnownWhitelist | None) -> None:
        manifest = observation.manifest if isinstance(observation, Observation) else None
        whitelist = observation.whitelist if isinstance(observation, Observation) else None
        with self._guard:
            if not isinstance(manifest, Manifest) or not isinstance(whitelist, Whitelist):
                self.whitelists.pop(name, None)
            elif known is None or known.whitelist is not whitelist:  # read now
                self.whitelists[name] = (time.monotonic(), KnownWhitelist(whitelist, manifest.root_hash))

    def forget(self, name: str) -> None:
        with self._guard:
            self.whitelists.pop(name, None)

    def logger(self, repo: Repository) -> Logger:
        if self.settings is None:
            return LOG
        return kopf.LocalObjectLogger(body=cast(Any, repo), settings=self.settings)


def _no_lookup(endpoint: str) -> None:
    return None  # "says nothing": the endpoint is read


def register(registry: kopf.OperatorRegistry, rt: Runtime,
             readers: stratum0_access.ReaderFactory = stratum0_access.reader_for, *,
             endpoints_in_dns: bool = True) -> HealthLoop:
    # DNS says something of an endpoint only when the reads go over the network: not with the
    # in-memory storage of the demo (its endpoints are made-up names).
    endpoints = UnansweredEndpoints(hold=rt.settings.health_interval,
                                    resolve=resolves if endpoints_in_dns else _no_lookup)
    context = _Context(endpoints, whitelist_max_age=WHITELIST_READS_EVERY * rt.settings.health_interval)
    loop = HealthLoop(lambda repo: check_health(rt, readers, repo, context),
                      lambda repos: sweep(rt, repos, context),
                      interval=rt.settings.health_interval, max_interval=rt.settings.health_max_interval,
                      threads=rt.settings.health_concurrency)

    @kopf.on.startup(registry=registry, id="health-loop")
    async def start_health(settings: kopf.OperatorSettings, **kwargs: Any) -> None:
        context.settings, context.index = settings, kwargs.get(INDEX)
        context.queue = queue_lookup({INDEX: kwargs.get(INDEX),
                                      OPERATIONS_INDEX: kwargs.get(OPERATIONS_INDEX)})
        loop.start()

    @kopf.on.cleanup(registry=registry, id="stop-health-loop")
    async def stop_health(**_: Any) -> None:
        await loop.stop()

    @kopf.on.event(GROUP, VERSION, REPOSITORY_PLURAL, registry=registry, id="health")
    async def seen(name: str, body: kopf.Body, event: kopf.RawEvent, **_: Any) -> None:
        """Every Repository kopf sees is read on the health loop's schedule; a deleted one is not,
        and its gauges go. (Not a kopf ``on.delete`` handler: any change handler makes kopf write
        its last-handled-configuration annotation on every Repository it first sees, a PATCH per
        Repository at start-up, thousands at once on a large site. A deletion missed while the
        operator was down keeps the gauges until it restarts.)"""
        if event.get("type") == "DELETED" or body.metadata.get("deletionTimestamp"):
            loop.forget(name)
            context.forget(name)
            rt.metrics.forget_repository(name)
        else:
            loop.seen(name, cast(Repository, trim_object(dict(body))))

    return loop


def check_health(rt: Runtime, readers: stratum0_access.ReaderFactory, repo: Repository,
                 context: _Context) -> bool:
    """Read manifest and whitelist; write revision, expiry, queue length and conditions when they
    changed. Returns whether the Stratum 0 answered (False: unreachable, read less often)."""
    name = repo["metadata"]["name"]
    meta = repo["metadata"]
    status = cast(Mapping[str, Any], repo.get("status") or {})
    observation: Observation | Stratum0Error
    errors = validation.repository_errors(repo)
    if errors:
        observation = InvalidConfiguration(f"the Repository is invalid: {'; '.join(errors)}")
    else:
        known = context.known_whitelist(name)
        if known is not None and status.get("whitelistExpiresAt") not in (
                None, known.whitelist.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")):
            known = None  # re-signed since it was read (a resign recorded the new expiry)
        try:
            observation = context.endpoints.observe(stratum0_access.endpoint_of(repo),
                                                    lambda: observe(readers(rt, repo), known))
        except Stratum0Error as error:
            observation = as_value(error)
        except KubeError as error:
            observation = InvalidConfiguration(f"cannot read the S3 credentials: {error}")
    context.remember(name, observation, None if errors else known)
    if isinstance(observation, Observation):
        for part in (observation.manifest, observation.whitelist):
            if isinstance(part, Stratum0Error):
                stratum0_access.refused(rt, repo, part)
    previous = list(status.get("conditions") or [])
    new = assess_health(
        observation, now=datetime.datetime.now(datetime.UTC), fqrn=name, previous=previous,
        warn_before=datetime.timedelta(days=rt.settings.whitelist_warning_days),
        observed_generation=meta.get("generation"), reflog_mismatch=reflog.unacknowledged(repo))
    created, created_fields = creation.step(rt, repo, observation, context.logger(repo))
    new.update(created_fields)  # type: ignore[typeddict-item]
    new["conditions"] = maintenance_conditions(repo, new, now=datetime.datetime.now(datetime.UTC),
                                               previous=previous, created=created)
    context.maintenance.run(rt, repo, new, context.logger(repo))
    entries: Sequence[QueueEntry] = list(context.queue(name))  # Transactions and RepositoryOperations
    running = _lock_holder_uid(rt, name, status)
    waiting = queue_length(entries, running)
    patch: dict[str, Any] = dict(new)
    patch["queueLength"] = waiting
    if meta.get("generation") is not None:
        patch["observedGeneration"] = meta.get("generation")
    rt.metrics.queue_length.labels(name).set(waiting)
    rt.metrics.queue(name, entries, running)
    _record_health(rt, name, observation, new)
    current = cast(RepositoryStatus, status)
    if any(status.get(key) != value for key, value in patch.items()) \
            and not still_unreachable(current, cast(RepositoryStatus, patch)):
        try:
            rt.kube.patch_repository_status(name, patch)
        except KubeError as error:
            context.logger(repo).warning("Could not write the Repository status: %s", error)
            return _answered(new)
    before, after = _ready(previous), _ready(new.get("conditions", []))
    if after is not None and (before is None or before[:2] != after[:2]):
        logger = context.logger(repo)
        (logger.info if after[0] == "True" else logger.warning)("Ready=%s %s: %s", *after)
        rt.kube.post_event(repo, "Normal" if after[0] == "True" else "Warning", after[1], after[2])
    return _answered(new)


def _lock_holder_uid(rt: Runtime, fqrn: str, status: Mapping[str, Any]) -> str | None:
    """The uid of the one publishing (or operating): the lock's holder, as the Lease informer
    sees it; the status's activeTransaction when the Lease cannot be read. A lone publish is not
    named in the Repository's status, so that alone would count it as waiting."""
    try:
        lease = rt.kube.get_lease(rt.settings.namespace, names.lock_name(fqrn))
    except KubeError:
        active = status.get("activeTransaction") or {}
        return active.get("uid") if isinstance(active, Mapping) else None
    holder = ((lease or {}).get("spec") or {}).get("holderIdentity")
    return names.holder_uid(str(holder) if holder else None)


def _answered(status: RepositoryStatus) -> bool:
    return not any(c["type"] == "Unreachable" and c["status"] == "True" for c in status.get("conditions", []))


def _record_health(rt: Runtime, fqrn: str, observation: Observation | Stratum0Error,
                   status: RepositoryStatus) -> None:
    ready = _ready(status.get("conditions", []))
    whitelist = observation.whitelist if isinstance(observation, Observation) else None
    rt.metrics.repository_health(
        fqrn, ready=ready is not None and ready[0] == "True", reason=ready[1] if ready else "Unknown",
        whitelist_expiry=whitelist.effective_expiry if isinstance(whitelist, Whitelist) else None,
        revision=status.get("revision"))


def sweep(rt: Runtime, repos: Mapping[str, Repository], context: _Context) -> None:
    """Publisher pod gauges for every Repository, and orphaned pods stopped, from one list."""
    try:  # publisher and operation pods (the gauges count publisher pods only)
        pods = rt.kube.list_pods(rt.settings.namespace, {names.LABEL_MANAGED_BY: names.MANAGED_BY})
    except KubeError as error:
        LOG.warning("Could not look for orphaned pods: %s", error)
        return
    by_label: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if _component(pod) in (names.COMPONENT_PUBLISHER, names.COMPONENT_OPERATION):
            by_label[labels.get(names.LABEL_REPOSITORY, "")].append(pod)
    now = datetime.datetime.now(datetime.UTC)
    for fqrn, repo in repos.items():
        mine = by_label.get(names.label_value(fqrn), [])
        publishers = [pod for pod in mine if _component(pod) == names.COMPONENT_PUBLISHER]
        rt.metrics.publisher_pods(fqrn, summarize_pods(publishers, now))
        if mine or (repo.get("status") or {}).get("activeTransaction"):
            _sweep_orphans(rt, repo, mine, context.logger(repo))
    known = {names.label_value(fqrn) for fqrn in repos}
    for label, stray in by_label.items():
        if label not in known:  # its Repository is gone (or not seen yet): its owner still judges it
            _sweep_orphans(rt, None, stray, LOG)


def _component(pod: Mapping[str, Any]) -> str | None:
    return cast(str | None, ((pod.get("metadata") or {}).get("labels") or {}).get(names.LABEL_COMPONENT))


def _sweep_orphans(rt: Runtime, repo: Repository | None, pods: list[dict[str, Any]], logger: Logger) -> None:
    """Stop publisher and operation pods whose owner is gone; forget such an active Transaction.
    Without ``repo`` (pods of a Repository that is gone) the Event goes on the pod itself."""
    try:
        current: dict[tuple[orphans.Kind, str, str], str | None] = {}
        active = (repo.get("status") or {}).get("activeTransaction") if repo is not None else None
        refs = [o.ref for o in map(orphans.owner, pods) if o is not None]
        if active:
            refs.append(("Transaction", active["namespace"], active["name"]))
        for kind, namespace, name in set(refs):
            found: Mapping[str, Any] | None
            if kind == "Transaction":
                found = rt.kube.get_transaction(namespace, name)
            elif kind == "RepositoryOperation":
                found = rt.kube.get_repository_operation(namespace, name)
            else:
                found = rt.kube.get_repository(name)
            current[(kind, namespace, name)] = found["metadata"].get("uid") if found else None
        by_name = {str(pod["metadata"]["name"]): pod for pod in pods}
        for orphan in orphans.orphans(pods, current):
            rt.kube.delete_pod(rt.settings.namespace, orphan.pod)
            message = f"Deleted pod {orphan.pod}: its {orphan.owner} is gone"
            logger.warning("%s", message)
            pod = {"apiVersion": "v1", "kind": "Pod", **by_name[orphan.pod]}
            involved = repo if repo is not None else pod
            rt.kube.post_event(involved, "Warning", "OrphanPodDeleted", message)
        if repo is not None and active \
                and current.get(("Transaction", active["namespace"], active["name"])) != active["uid"]:
            rt.kube.patch_repository_status(repo["metadata"]["name"], {"activeTransaction": None})
    except KubeError as error:
        logger.warning("Could not look for orphaned pods: %s", error)
