"""The only module that talks to the Kubernetes API (through the official sync client).

Every call returns plain dicts and translates API errors into :mod:`errors` classes here, at the
boundary. Side effects are idempotent: creating what exists reports it, deleting what is gone is
success.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any, cast

import kubernetes
import urllib3
from kubernetes.client.exceptions import ApiException

from cvmfs_operator.api.types import (
    GROUP,
    OPERATION_PLURAL,
    REPOSITORY_PLURAL,
    TRANSACTION_PLURAL,
    VERSION,
    Manifest,
    Repository,
    RepositoryOperation,
    Transaction,
)
from cvmfs_operator.clients import ratelimit
from cvmfs_operator.clients.errors import AlreadyExists, ApiUnavailable, Forbidden, KubeError, NotFound

MERGE_PATCH = "application/merge-patch+json"
TIMEOUT = (5.0, 30.0)  # connect, read


POOL_SIZE = 64  # connections kept to the API server: one per concurrent step thread, and watches


def make_api_client(api_server: str | None, rate_limit: ratelimit.TokenBucket | None = None,
                    kubeconfig: str | None = None) -> kubernetes.client.ApiClient:
    """An API client for an explicit server URL, else the named kubeconfig file, else in-cluster
    config, else KUBECONFIG; with ``rate_limit``, every request it makes takes a token first
    (clients/ratelimit.py)."""
    configuration = kubernetes.client.Configuration()
    if api_server:
        configuration.host = api_server
    elif kubeconfig:
        kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        try:
            kubernetes.config.load_incluster_config(client_configuration=configuration)
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config(client_configuration=configuration)
    # The default (5 per core) makes concurrent steps open and discard a connection per request.
    configuration.connection_pool_maxsize = POOL_SIZE
    api_client = kubernetes.client.ApiClient(configuration)
    if rate_limit is not None:
        ratelimit.install(api_client, rate_limit)
    return api_client


def _translate(exc: ApiException, what: str) -> KubeError:
    status = int(exc.status or 0)
    reason = ""
    try:
        body = json.loads(exc.body or "{}")
        reason = str(body.get("message") or body.get("reason") or "")
    except (ValueError, TypeError, AttributeError):
        reason = str(exc.reason or "")
    message = f"{what}: HTTP {status} {reason}".strip()
    if status == 404:
        return NotFound(message)
    if status == 409:
        return AlreadyExists(message)
    if status in (401, 403):
        return Forbidden(message)
    return ApiUnavailable(message, retry_after=_retry_after(exc))


MAX_RETRY_AFTER = 60.0


def _retry_after(exc: ApiException) -> float | None:
    """API Priority and Fairness answers 429 with Retry-After (seconds); honour it, bounded."""
    headers = exc.headers or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return None if seconds is None or seconds < 0 else min(seconds, MAX_RETRY_AFTER)


class KubeClient:
    def __init__(self, api_client: kubernetes.client.ApiClient) -> None:
        self.api_client = api_client
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.custom = kubernetes.client.CustomObjectsApi(api_client)
        self.coordination = kubernetes.client.CoordinationV1Api(api_client)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            response = fn(*args, _preload_content=False, _request_timeout=TIMEOUT, **kwargs)
        except ApiException as exc:
            raise _translate(exc, what) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ApiUnavailable(f"{what}: {type(exc).__name__}") from None
        data = response.data
        return json.loads(data) if data else {}

    def _maybe(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any | None:
        try:
            return self._call(what, fn, *args, **kwargs)
        except NotFound:
            return None

    # Transactions and Repositories

    def get_transaction(self, namespace: str, name: str) -> Transaction | None:
        return cast(Transaction | None, self._maybe(
            f"get Transaction {namespace}/{name}", self.custom.get_namespaced_custom_object,
            GROUP, VERSION, namespace, TRANSACTION_PLURAL, name))

    def patch_transaction_status(self, namespace: str, name: str, status: Mapping[str, Any],
                                 resource_version: str | None = None) -> None:
        self._patch_status(namespace, name, status, resource_version)

    def _patch_status(self, namespace: str, name: str, status: Mapping[str, Any],
                      resource_version: str | None) -> dict[str, Any]:
        """A merge patch of the status; with ``resource_version``, only if the object is still at
        that version (the API server answers 409 otherwise)."""
        body: dict[str, Any] = {"status": dict(status)}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        return cast(dict[str, Any], self._call(
            f"patch status of Transaction {namespace}/{name}",
            self.custom.patch_namespaced_custom_object_status,
            GROUP, VERSION, namespace, TRANSACTION_PLURAL, name, body))

    def get_repository(self, name: str) -> Repository | None:
        return cast(Repository | None, self._maybe(
            f"get Repository {name}", self.custom.get_cluster_custom_object,
            GROUP, VERSION, REPOSITORY_PLURAL, name))

    def patch_repository_status(self, name: str, status: Mapping[str, Any],
                                resource_version: str | None = None) -> None:
        self._patch_repository(name, status, resource_version)

    def _patch_repository(self, name: str, status: Mapping[str, Any],
                          resource_version: str | None = None) -> dict[str, Any]:
        """A merge patch of the status; with ``resource_version``, only onto that version (409)."""
        body: dict[str, Any] = {"status": dict(status)}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        return cast(dict[str, Any], self._call(
            f"patch status of Repository {name}", self.custom.patch_cluster_custom_object_status,
            GROUP, VERSION, REPOSITORY_PLURAL, name, body))

    # RepositoryOperations

    def get_repository_operation(self, namespace: str, name: str) -> RepositoryOperation | None:
        return cast(RepositoryOperation | None, self._maybe(
            f"get RepositoryOperation {namespace}/{name}", self.custom.get_namespaced_custom_object,
            GROUP, VERSION, namespace, OPERATION_PLURAL, name))

    def patch_repository_operation_status(self, namespace: str, name: str, status: Mapping[str, Any],
                                          resource_version: str | None = None) -> None:
        self._patch_operation_status(namespace, name, status, resource_version)

    def _patch_operation_status(self, namespace: str, name: str, status: Mapping[str, Any],
                                resource_version: str | None) -> dict[str, Any]:
        """As :meth:`_patch_status`, for a RepositoryOperation."""
        body: dict[str, Any] = {"status": dict(status)}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        return cast(dict[str, Any], self._call(
            f"patch status of RepositoryOperation {namespace}/{name}",
            self.custom.patch_namespaced_custom_object_status,
            GROUP, VERSION, namespace, OPERATION_PLURAL, name, body))

    def create_repository_operation(self, manifest: Manifest) -> dict[str, Any]:
        """Create a RepositoryOperation; raises AlreadyExists (409) when its name is taken."""
        namespace = manifest["metadata"]["namespace"]
        return cast(dict[str, Any], self._call(
            f"create RepositoryOperation {namespace}/{manifest['metadata']['name']}",
            self.custom.create_namespaced_custom_object, GROUP, VERSION, namespace, OPERATION_PLURAL,
            manifest))

    # Pods (operator namespace only)

    def list_pods(self, namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        data = self._call(f"list pods in {namespace}", self.core.list_namespaced_pod, namespace,
                          label_selector=selector)
        items = data.get("items", [])
        # Filter again: the selector is an optimisation, the match must not depend on it.
        return [pod for pod in items
                if all((pod.get("metadata", {}).get("labels") or {}).get(k) == v for k, v in labels.items())]

    def create_pod(self, manifest: Manifest) -> dict[str, Any]:
        namespace = manifest["metadata"]["namespace"]
        return cast(dict[str, Any], self._call(
            f"create pod {namespace}/{manifest['metadata']['name']}",
            self.core.create_namespaced_pod, namespace, manifest))

    def delete_pod(self, namespace: str, name: str) -> None:
        self._delete_pod(namespace, name)

    def _delete_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The pod as the deletion left it (or a Status), None when it was already gone."""
        return cast(dict[str, Any] | None, self._maybe(
            f"delete pod {namespace}/{name}", self.core.delete_namespaced_pod, name, namespace))

    # Leases: per-repository locks (operator namespace only)

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        return cast(dict[str, Any] | None, self._maybe(
            f"get Lease {namespace}/{name}", self.coordination.read_namespaced_lease, name, namespace))

    def create_lease(self, manifest: Manifest) -> dict[str, Any]:
        namespace = manifest["metadata"]["namespace"]
        return cast(dict[str, Any], self._call(
            f"create Lease {namespace}/{manifest['metadata']['name']}",
            self.coordination.create_namespaced_lease, namespace, manifest))

    def hand_over_lease(self, namespace: str, name: str, resource_version: str, holder: str,
                        acquire_time: str) -> dict[str, Any]:
        """Give the Lease to ``holder``, only if it is still the version read (409 otherwise)."""
        body = {"metadata": {"resourceVersion": resource_version},
                "spec": {"holderIdentity": holder, "acquireTime": acquire_time}}
        return cast(dict[str, Any], self._call(
            f"hand over Lease {namespace}/{name}", self.coordination.patch_namespaced_lease,
            name, namespace, body))

    def delete_lease(self, namespace: str, name: str, uid: str | None) -> None:
        """Delete the Lease, only if it is still the one we read (uid precondition)."""
        body = {"preconditions": {"uid": uid}} if uid else None
        try:
            self._maybe(f"delete Lease {namespace}/{name}", self.coordination.delete_namespaced_lease,
                        name, namespace, body=body)
        except AlreadyExists:  # 409: the precondition failed, someone else holds a new Lease now
            return

    # Events (in the namespace of the object they are about)

    def post_event(self, involved: Mapping[str, Any], kind: str, reason: str, message: str,
                   component: str = "cvmfs-release-operator") -> None:
        """Best effort: an Event that cannot be posted is dropped, never fails the caller."""
        meta = involved.get("metadata", {})
        namespace = meta.get("namespace") or "default"
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"generateName": f"{meta.get('name', 'object')}.", "namespace": namespace},
            "involvedObject": {"apiVersion": involved.get("apiVersion"), "kind": involved.get("kind"),
                               "name": meta.get("name"), "namespace": meta.get("namespace"),
                               "uid": meta.get("uid")},
            "type": kind, "reason": reason, "message": message[:1024],
            "source": {"component": component}, "reportingComponent": component,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            self._call(f"post Event in {namespace}", self.core.create_namespaced_event, namespace, body)
        except KubeError:
            return

    # Secrets (operator namespace only)

    def create_secret(self, manifest: Manifest) -> dict[str, Any]:
        """Create a Secret (the keys of a new repository); AlreadyExists (409) when it is there."""
        namespace = manifest["metadata"]["namespace"]
        return cast(dict[str, Any], self._call(
            f"create Secret {namespace}/{manifest['metadata']['name']}",
            self.core.create_namespaced_secret, namespace, manifest))

    def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        """The Secret's data, base64 as stored; callers decode only what they need."""
        data = self._call(f"get Secret {namespace}/{name}", self.core.read_namespaced_secret, name, namespace)
        return dict(data.get("data") or {})
