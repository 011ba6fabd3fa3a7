"""One place that builds the kopf registry: start-up tuning, login, and every handler."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping
from typing import Any

import kopf
import prometheus_client

from cvmfs_operator.clients.podwatch import PodWatcher
from cvmfs_operator.handlers import repositories, stratum0_access, transactions
from cvmfs_operator.handlers.runtime import Logger, Runtime
from cvmfs_operator.render import names


def build_registry(rt: Runtime, readers: stratum0_access.ReaderFactory = stratum0_access.reader_for,
                   ) -> kopf.OperatorRegistry:
    """``readers`` builds the Stratum 0 reader of a Repository: S3 or HTTP from its spec, or the
    demo's simulated storage."""
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, logger: Logger, **_: Any) -> None:
        rt.wakeups.bind(asyncio.get_running_loop())
        settings.peering.standalone = True  # mutual exclusion comes from per-repository Leases
        # No CRD/namespace observation: kopf would list and watch CustomResourceDefinitions
        # cluster-wide (refused 403 under the chart's RBAC). Discovery (/api, /apis) still runs
        # once at start-up and finds the CRDs and core v1 Events; CRDs installed or changed later
        # are noticed after a restart (Helm installs them before the Deployment).
        settings.scanning.disabled = True
        settings.posting.level = logging.INFO  # INFO and above become Events on the object
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.networking.request_timeout = 60
        settings.persistence.finalizer = "cvmfs.cern.ch/publisher-cleanup"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="cvmfs.cern.ch")
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix="cvmfs.cern.ch", key="last-handled-configuration")
        settings.execution.max_workers = 32
        watcher.start()
        if rt.settings.metrics_port:
            prometheus_client.start_http_server(rt.settings.metrics_port, registry=rt.metrics.registry)
            logger.debug("Serving metrics on port %d", rt.settings.metrics_port)

    def pod_changed(event: str, labels: Mapping[str, str]) -> None:
        uid = labels.get(names.LABEL_TRANSACTION_UID)
        if uid:
            rt.wakeups.notify(transactions.transaction_key(uid))

    watcher = PodWatcher(rt.kube, rt.settings.namespace, {
        names.LABEL_MANAGED_BY: names.MANAGED_BY, names.LABEL_COMPONENT: "publisher"}, pod_changed)

    @kopf.on.cleanup(registry=registry)
    async def stop_watching(**_: Any) -> None:
        await asyncio.to_thread(watcher.stop)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if rt.settings.api_server:
            return kopf.ConnectionInfo(server=rt.settings.api_server)
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    transactions.register(registry, rt, functools.partial(stratum0_access.read_for_transaction,
                                                          readers=readers))
    repositories.register(registry, rt, readers)
    return registry
