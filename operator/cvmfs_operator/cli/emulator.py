"""An in-process Kubernetes API for the demo and the tests: kmock's emulator, made a bit more real.

kmock's ``KubernetesEmulator`` stores objects as sent. A real API server also fills the system
fields; this subclass does the same on create (``uid``, ``creationTimestamp``, ``generation``,
``resourceVersion``, the namespace from the URL) so the operator sees what it would see on a
cluster. It also serves the pods ``log`` subresource (plain text, ``follow=true`` streamed until the
container ends) from lines a simulated kubelet writes with :meth:`ApiEmulator.write_pod_log`.
Every write gives the object a new ``resourceVersion`` (one counter, as etcd's revision), a list
says the version it was taken at, and a patch or update that carries ``metadata.resourceVersion``
is refused with 409 Conflict unless the object is still at that version (optimistic concurrency).
It still has kmock's limits: no label-selector filtering, naive merge patches, no
admission (CRD schemas and CEL are not enforced), no garbage collection, no grace periods.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import threading
import uuid
from typing import Any

import aiohttp.web
import kmock

from cvmfs_operator.api.types import GROUP, OPERATION_PLURAL, REPOSITORY_PLURAL, TRANSACTION_PLURAL, VERSION

VERBS = {"get", "list", "watch", "create", "update", "patch", "delete"}
REQUEST_HISTORY = 32  # requests kmock keeps (the one being served is always the last)


class ApiEmulator(kmock.KubernetesEmulator):
    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._version = 0
        self._writes = asyncio.Lock()  # a precondition check and its write happen as one
        self._pod_logs: dict[tuple[str, str], list[str]] = {}
        self._pod_logs_ended: set[tuple[str, str]] = set()
        self._pod_logs_lock = threading.Lock()  # the kubelet writes from its own thread
        self.resources[f"{GROUP}/{VERSION}/{TRANSACTION_PLURAL}"] = kmock.ResourceInfo(
            kind="Transaction", singular="transaction", namespaced=True, verbs=VERBS,
            shortnames={"cvmfstxn"}, subresources={"status"})
        self.resources[f"{GROUP}/{VERSION}/{REPOSITORY_PLURAL}"] = kmock.ResourceInfo(
            kind="Repository", singular="repository", namespaced=False, verbs=VERBS,
            shortnames={"cvmfsrepo"}, subresources={"status"})
        self.resources[f"{GROUP}/{VERSION}/{OPERATION_PLURAL}"] = kmock.ResourceInfo(
            kind="RepositoryOperation", singular="repositoryoperation", namespaced=True, verbs=VERBS,
            shortnames={"repoop"}, subresources={"status"})
        self.resources["v1/pods"] = kmock.ResourceInfo(
            kind="Pod", singular="pod", namespaced=True, verbs=VERBS, subresources={"status"})
        self.resources["v1/secrets"] = kmock.ResourceInfo(kind="Secret", namespaced=True, verbs=VERBS)
        self.resources["v1/events"] = kmock.ResourceInfo(kind="Event", namespaced=True, verbs=VERBS)
        self.resources["v1/namespaces"] = kmock.ResourceInfo(kind="Namespace", namespaced=False, verbs=VERBS)
        self.resources["coordination.k8s.io/v1/leases"] = kmock.ResourceInfo(
            kind="Lease", namespaced=True, verbs=VERBS)
        self.resources["events.k8s.io/v1/events"] = kmock.ResourceInfo(kind="Event", namespaced=True,
                                                                       verbs=VERBS)

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    async def _serve_list(self, request: Any) -> Any:
        listed = await super()._serve_list(request)
        if isinstance(listed, dict):  # the version the list was taken at, as a real server gives
            listed["metadata"] = {"resourceVersion": str(self._version)}
        return listed

    def _conflict(self, request: Any) -> aiohttp.web.Response | None:
        """A write carrying ``metadata.resourceVersion`` applies only to that version (409)."""
        meta = request.data.get("metadata") if isinstance(request.data, dict) else None
        wanted = meta.get("resourceVersion") if isinstance(meta, dict) else None
        if not wanted or request.name is None:
            return None
        key = (request.resource, request.namespace, request.name)
        stored = self.objects[key] if key in self.objects else None  # noqa: SIM401 (no .get on it)
        current = None if stored is None or stored.deleted else stored.get("metadata", {}).get(
            "resourceVersion")
        if current is None or str(current) == str(wanted):
            return None
        body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409,
                "message": f"Operation cannot be fulfilled on {request.resource.plural} \"{request.name}\": "
                           "the object has been modified; please apply your changes to the latest version "
                           "and try again"}
        return aiohttp.web.Response(status=409, text=json.dumps(body), content_type="application/json")

    def _failed_test(self, request: Any) -> aiohttp.web.Response | None:
        """A JSON patch whose ``test`` of the resourceVersion fails is refused with 422, as a real
        API server does (kopf tests the version it read before it patches finalizers)."""
        key = (request.resource, request.namespace, request.name)
        stored = self.objects[key] if key in self.objects else None  # noqa: SIM401 (no .get on it)
        if stored is None or stored.deleted:
            return None
        current = stored.get("metadata", {}).get("resourceVersion")
        for op in request.data:
            tested = isinstance(op, dict) and op.get("op") == "test" \
                and op.get("path") == "/metadata/resourceVersion"
            if tested and str(op.get("value")) != str(current):
                body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid",
                        "code": 422, "message": "the server rejected our request due to an error in our "
                        "request: testing value /metadata/resourceVersion failed"}
                return aiohttp.web.Response(status=422, text=json.dumps(body),
                                            content_type="application/json")
        return None

    def write_pod_log(self, namespace: str, pod: str, line: str | None) -> None:
        """Append a line to a pod's container log; None: the container ended (a followed log ends)."""
        with self._pod_logs_lock:
            if line is None:
                self._pod_logs_ended.add((namespace, pod))
            else:
                self._pod_logs.setdefault((namespace, pod), []).append(line)

    def _log_state(self, key: tuple[str, str], start: int) -> tuple[list[str] | None, bool]:
        with self._pod_logs_lock:
            lines = self._pod_logs.get(key)
            return (None if lines is None else lines[start:]), key in self._pod_logs_ended

    def _pod_exists(self, namespace: str, name: str) -> bool:
        return any(resource.plural == "pods" and ns == namespace and n == name and not obj.deleted
                   for (resource, ns, n), obj in list(self.objects.items()))

    async def _serve_pod_log(self, request: Any) -> aiohttp.web.StreamResponse:
        key = (str(request.namespace), str(request.name))
        lines, ended = self._log_state(key, 0)
        if lines is None:
            exists = self._pod_exists(*key)
            code, reason = (400, "BadRequest") if exists else (404, "NotFound")
            message = (f'container "publisher" in pod "{key[1]}" is waiting to start' if exists
                       else f'pods "{key[1]}" not found')
            body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                    "reason": reason, "code": code}
            return aiohttp.web.Response(status=code, text=json.dumps(body), content_type="application/json")
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request._raw_request)
        follow = str(request.params.get("follow", "")).lower() == "true"
        sent = 0
        while True:
            lines, ended = self._log_state(key, sent)
            for line in lines or []:
                await response.write(f"{line}\n".encode())
            sent += len(lines or [])
            if not follow or ended or not self._pod_exists(*key):
                break
            await asyncio.sleep(0.05)
        await response.write_eof()
        return response

    async def _handle(self, request: Any) -> Any:
        # kmock keeps every request and matches each new one by scanning that history, so a long
        # run slows down quadratically (tens of ms per request after a few thousand, all of it in
        # the emulator's event loop). Nothing here reads old requests: keep only the recent ones.
        history: list[Any] = self._requests
        if len(history) > 2 * REQUEST_HISTORY:
            del history[:-REQUEST_HISTORY]
        if (request.resource is not None and request.resource.plural == "pods"
                and request.subresource == "log" and str(request.method).upper().endswith("GET")):
            return await self._serve_pod_log(request)
        if request.resource is not None and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            if str(request.action) == str(kmock.action.CREATE) and isinstance(meta, dict):
                if not meta.get("name") and meta.get("generateName"):
                    meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
                meta["uid"] = str(uuid.uuid4())
                meta["creationTimestamp"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                meta.setdefault("generation", 1)
                meta["resourceVersion"] = self._next_version()
                if request.namespace and not meta.get("namespace"):
                    meta["namespace"] = request.namespace
        if request.resource is not None and str(request.action) == str(kmock.action.UPDATE) \
                and isinstance(request.data, dict | list):
            async with self._writes:
                conflict = self._conflict(request)
                if conflict is not None:
                    return conflict
                if isinstance(request.data, list):  # a JSON patch: its tests, then a new version
                    failed = self._failed_test(request)
                    if failed is not None:
                        return failed
                    request.data.append({"op": "add", "path": "/metadata/resourceVersion",
                                         "value": self._next_version()})
                else:
                    meta = request.data.setdefault("metadata", {})
                    if isinstance(meta, dict):
                        meta["resourceVersion"] = self._next_version()  # every write makes a new version
                return await super()._handle(request)
        return await super()._handle(request)
