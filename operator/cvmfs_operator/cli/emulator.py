"""An in-process Kubernetes API for the demo and the tests: kmock's emulator, made a bit more real.

kmock's ``KubernetesEmulator`` stores objects as sent. A real API server also fills the system
fields; this subclass does the same on create (``uid``, ``creationTimestamp``, ``generation``,
``resourceVersion``, the namespace from the URL) so the operator sees what it would see on a
cluster. It still has kmock's limits: no label-selector filtering, naive merge patches, no
admission (CRD schemas and CEL are not enforced), no garbage collection, no grace periods.
"""

from __future__ import annotations

import datetime
import itertools
import uuid
from typing import Any

import kmock

from cvmfs_operator.api.types import GROUP, REPOSITORY_PLURAL, TRANSACTION_PLURAL, VERSION

VERBS = {"get", "list", "watch", "create", "update", "patch", "delete"}


class ApiEmulator(kmock.KubernetesEmulator):
    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._versions = itertools.count(1)
        self.resources[f"{GROUP}/{VERSION}/{TRANSACTION_PLURAL}"] = kmock.ResourceInfo(
            kind="Transaction", singular="transaction", namespaced=True, verbs=VERBS,
            shortnames={"cvmfstxn"}, subresources={"status"})
        self.resources[f"{GROUP}/{VERSION}/{REPOSITORY_PLURAL}"] = kmock.ResourceInfo(
            kind="Repository", singular="repository", namespaced=False, verbs=VERBS,
            shortnames={"cvmfsrepo"}, subresources={"status"})
        self.resources["v1/pods"] = kmock.ResourceInfo(
            kind="Pod", singular="pod", namespaced=True, verbs=VERBS, subresources={"status"})
        self.resources["v1/secrets"] = kmock.ResourceInfo(kind="Secret", namespaced=True, verbs=VERBS)
        self.resources["v1/events"] = kmock.ResourceInfo(kind="Event", namespaced=True, verbs=VERBS)
        self.resources["v1/namespaces"] = kmock.ResourceInfo(kind="Namespace", namespaced=False, verbs=VERBS)
        self.resources["coordination.k8s.io/v1/leases"] = kmock.ResourceInfo(
            kind="Lease", namespaced=True, verbs=VERBS)
        self.resources["events.k8s.io/v1/events"] = kmock.ResourceInfo(kind="Event", namespaced=True,
                                                                       verbs=VERBS)

    async def _handle(self, request: Any) -> Any:
        if request.resource is not None and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            if str(request.action) == str(kmock.action.CREATE) and isinstance(meta, dict):
                if not meta.get("name") and meta.get("generateName"):
                    meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
                meta["uid"] = str(uuid.uuid4())
                meta["creationTimestamp"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                meta.setdefault("generation", 1)
                meta["resourceVersion"] = str(next(self._versions))
                if request.namespace and not meta.get("namespace"):
                    meta["namespace"] = request.namespace
        return await super()._handle(request)
