"""One place that builds the kopf registry: start-up tuning, login, and every handler."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Mapping
from typing import Any

import kopf
import prometheus_client

from cvmfs_operator.clients import watch
from cvmfs_operator.handlers import (
    caching,
    operation_flow,
    operations,
    repositories,
    stratum0_access,
    transactions,
)
from cvmfs_operator.handlers.runtime import Logger, Runtime, daemon_key
from cvmfs_operator.render import names

STEP_THREADS = 64
IMMUTABLE_KINDS = ("Transaction", "RepositoryOperation")  # spec immutable: no kopf diffbase


class TransactionsWithoutDiffBase(kopf.AnnotationsDiffBaseStorage):
    """No "last handled configuration" on Transactions: their spec is immutable and no handler
    reacts to its changes, so kopf's copy of it would only cost one more write per Transaction."""

    def fetch(self, *, body: kopf.Body) -> Any:
        return None if body.get("kind") in IMMUTABLE_KINDS else super().fetch(body=body)

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: Any) -> None:
        if body.get("kind") not in IMMUTABLE_KINDS:
            super().store(body=body, patch=patch, essence=essence)


def build_registry(rt: Runtime, readers: stratum0_access.ReaderFactory = stratum0_access.reader_for,
                   *, endpoints_in_dns: bool = True) -> kopf.OperatorRegistry:
    """``readers`` builds the Stratum 0 reader of a Repository: S3 or HTTP from its spec, or the
    demo's simulated storage, whose endpoints are made-up names (``endpoints_in_dns=False``: the
    health loop does not ask DNS about them first)."""
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, logger: Logger, **_: Any) -> None:
        loop = asyncio.get_running_loop()
        rt.wakeups.bind(loop)
        # Each Transaction's steps run in a thread (the Kubernetes client is synchronous); the
        # default pool has min(32, cores + 4) threads, 6 on two cores, which queued Transactions
        # would hold while the running ones wait for a thread.
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(
            max_workers=STEP_THREADS, thread_name_prefix="reconcile"))
        settings.peering.standalone = True  # mutual exclusion comes from per-repository Leases
        # No CRD/namespace observation: kopf would list and watch CustomResourceDefinitions
        # cluster-wide (refused 403 under the chart's RBAC). Discovery (/api, /apis) still runs
        # once at start-up and finds the CRDs and core v1 Events; CRDs installed or changed later
        # are noticed after a restart (Helm installs them before the Deployment).
        settings.scanning.disabled = True
        # The operator posts its Events itself (two per Transaction: pod created, result; warnings):
        # kopf would post every log line of INFO and above as one more Event.
        settings.posting.enabled = False
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.networking.request_timeout = 60
        settings.persistence.finalizer = names.FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="cvmfs.cern.ch")
        settings.persistence.diffbase_storage = TransactionsWithoutDiffBase(
            prefix="cvmfs.cern.ch", key="last-handled-configuration")
        settings.execution.max_workers = 32
        for watcher in watchers:
            watcher.start()
        if rt.settings.metrics_port:
            prometheus_client.start_http_server(rt.settings.metrics_port, registry=rt.metrics.registry)
            logger.debug("Serving metrics on port %d", rt.settings.metrics_port)

    def pod_changed(event: str, meta: Mapping[str, Any]) -> None:
        labels = meta.get("labels") or {}
        uid = labels.get(names.LABEL_TRANSACTION_UID) or labels.get(names.LABEL_OPERATION_UID)
        if labels.get(names.LABEL_OPERATION) == "create":  # a Repository's creation: its health read
            health.look_soon(str((meta.get("annotations") or {}).get(names.ANNOTATION_REPOSITORY)))
        elif uid:
            rt.wakeups.notify(daemon_key(uid))

    def lock_changed(event: str, meta: Mapping[str, Any]) -> None:
        fqrn = (meta.get("annotations") or {}).get(names.ANNOTATION_REPOSITORY)
        if fqrn and event == "DELETED":  # released or broken, by this process or another one
            rt.wakeups.notify(fqrn)
        elif fqrn and event == "MODIFIED":  # handed over: wake the new holder only
            lease = rt.caches.leases.get(str(meta.get("namespace") or ""), str(meta.get("name") or ""))
            uid = names.holder_uid(((lease or {}).get("spec") or {}).get("holderIdentity"))
            rt.wakeups.notify(daemon_key(uid) if uid else fqrn)

    own = {names.LABEL_MANAGED_BY: names.MANAGED_BY}
    watchers = [
        # Publisher and operation pods: one informer for every pod the operator manages.
        watch.publisher_pods(rt.kube, rt.settings.namespace, own, pod_changed,
                             on_gap=rt.wakeups.notify_all, store=rt.caches.pods),
        watch.leases(rt.kube, rt.settings.namespace, {**own, names.LABEL_COMPONENT: names.COMPONENT_LOCK},
                     lock_changed, on_gap=rt.wakeups.notify_all, store=rt.caches.leases),
    ]

    @kopf.on.cleanup(registry=registry)
    async def stop_watching(**_: Any) -> None:
        for watcher in watchers:
            await asyncio.to_thread(watcher.stop)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if rt.settings.api_server:
            return kopf.ConnectionInfo(server=rt.settings.api_server)
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    caching.register(registry, rt)
    transactions.register(registry, rt, functools.partial(stratum0_access.read_for_transaction,
                                                          readers=readers))
    operations.register(registry, rt, functools.partial(operation_flow.read_for_operation, readers=readers))
    health = repositories.register(registry, rt, readers, endpoints_in_dns=endpoints_in_dns)
    return registry
