"""The Kubernetes client the operator runs with: reads served from its stores, writes kept there.

:class:`CachingKubeClient` has :class:`~cvmfs_operator.clients.kube.KubeClient`'s interface. Reads
come from the :class:`Caches` the watches feed (publisher pods and lock Leases: the operator's
informers; Repositories and unfinished Transactions: kopf's own watches, see handlers/setup.py), and
fall back to the API server only for a Repository or Transaction the store does not know (a
missing one is asked for again next time: absence is never cached). Pods and Leases are only
read from their informers, which list them completely before anything is decided. Every create and patch
response goes into its store (write-through), so the next step decides on what it just wrote.

Transaction status writes carry the resourceVersion they were decided from: a conflict (another
replica, or kopf, wrote in between) raises :class:`~cvmfs_operator.clients.errors.Conflict` after
the store has been refreshed from the API server, and the caller decides again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import kubernetes

from cvmfs_operator.api.types import Manifest, Repository, RepositoryOperation, Transaction
from cvmfs_operator.clients.cache import Store, trim_object
from cvmfs_operator.clients.errors import AlreadyExists, ApiUnavailable, Conflict
from cvmfs_operator.clients.kube import KubeClient

SYNC_WAIT = 10.0  # seconds a reader waits for an informer's first list at start-up


def _loaded(store: Store) -> Store:
    """The store once its informer has loaded the first complete list (the operator's own
    namespace: publisher pods and lock Leases are only ever read from there)."""
    if not store.synced.wait(SYNC_WAIT):
        raise ApiUnavailable(f"the {store.kind} watch has not loaded yet")
    return store


@dataclass
class Caches:
    transactions: Store = field(default_factory=lambda: Store("Transaction", trim_object))
    repositories: Store = field(default_factory=lambda: Store("Repository", trim_object))
    pods: Store = field(default_factory=lambda: Store("publisher pod", trim_object))
    leases: Store = field(default_factory=lambda: Store("repository lock", trim_object))
    operations: Store = field(default_factory=lambda: Store("RepositoryOperation", trim_object))


class CachingKubeClient(KubeClient):
    def __init__(self, api_client: kubernetes.client.ApiClient, caches: Caches | None = None) -> None:
        super().__init__(api_client)
        self.caches = caches or Caches()

    # Transactions and Repositories

    def get_transaction(self, namespace: str, name: str) -> Transaction | None:
        known = self.caches.transactions.get(namespace, name)
        if known is not None:
            return cast(Transaction, known)
        return self.refresh_transaction(namespace, name)

    def refresh_transaction(self, namespace: str, name: str) -> Transaction | None:
        txn = super().get_transaction(namespace, name)
        if txn is not None:
            self.caches.transactions.put(cast(dict[str, Any], txn))
        return txn

    def patch_transaction_status(self, namespace: str, name: str, status: Mapping[str, Any],
                                 resource_version: str | None = None) -> None:
        try:
            written = self._patch_status(namespace, name, status, resource_version)
        except AlreadyExists as exc:  # 409 on a patch: the resourceVersion precondition failed
            self.caches.transactions.invalidate(namespace, name)
            self.refresh_transaction(namespace, name)
            raise Conflict(str(exc)) from None
        if written:
            self.caches.transactions.put(written)

    def get_repository(self, name: str) -> Repository | None:
        known = self.caches.repositories.get("", name)
        if known is not None:
            return cast(Repository, known)
        repo = super().get_repository(name)
        if repo is not None:
            self.caches.repositories.put(cast(dict[str, Any], repo))
        return repo

    def patch_repository_status(self, name: str, status: Mapping[str, Any],
                                resource_version: str | None = None) -> None:
        try:
            written = self._patch_repository(name, status, resource_version)
        except AlreadyExists as exc:  # 409: the Repository changed since the version decided from
            self.caches.repositories.invalidate("", name)
            self.get_repository(name)
            raise Conflict(str(exc)) from None
        if written:
            self.caches.repositories.put(written)

    # RepositoryOperations (unfinished ones from kopf's watch, as Transactions)

    def get_repository_operation(self, namespace: str, name: str) -> RepositoryOperation | None:
        known = self.caches.operations.get(namespace, name)
        if known is not None:
            return cast(RepositoryOperation, known)
        return self.refresh_repository_operation(namespace, name)

    def refresh_repository_operation(self, namespace: str, name: str) -> RepositoryOperation | None:
        op = super().get_repository_operation(namespace, name)
        if op is not None:
            self.caches.operations.put(cast(dict[str, Any], op))
        return op

    def patch_repository_operation_status(self, namespace: str, name: str, status: Mapping[str, Any],
                                          resource_version: str | None = None) -> None:
        try:
            written = self._patch_operation_status(namespace, name, status, resource_version)
        except AlreadyExists as exc:  # 409 on a patch: the resourceVersion precondition failed
            self.caches.operations.invalidate(namespace, name)
            self.refresh_repository_operation(namespace, name)
            raise Conflict(str(exc)) from None
        if written:
            self.caches.operations.put(written)

    # Pods and Leases

    def list_pods(self, namespace: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        return _loaded(self.caches.pods).select(labels, namespace)

    def create_pod(self, manifest: Manifest) -> dict[str, Any]:
        pod = super().create_pod(manifest)
        self.caches.pods.put(pod)
        return pod

    def delete_pod(self, namespace: str, name: str) -> None:
        gone = self._delete_pod(namespace, name)
        if gone is not None and gone.get("kind") == "Pod":
            self.caches.pods.put(gone)  # now with its deletionTimestamp

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """From the informer only: a lock is broken or released by deleting it with the uid
        precondition of the Lease seen here, so a stale view cannot release someone else's."""
        return _loaded(self.caches.leases).get(namespace, name)

    def create_lease(self, manifest: Manifest) -> dict[str, Any]:
        lease = super().create_lease(manifest)
        self.caches.leases.put(lease)
        return lease

    def hand_over_lease(self, namespace: str, name: str, resource_version: str, holder: str,
                        acquire_time: str) -> dict[str, Any]:
        try:
            lease = super().hand_over_lease(namespace, name, resource_version, holder, acquire_time)
        except AlreadyExists:  # 409: changed since it was read; the watch brings the new one
            self.caches.leases.invalidate(namespace, name)
            raise
        self.caches.leases.put(lease)
        return lease

    def delete_lease(self, namespace: str, name: str, uid: str | None) -> None:
        super().delete_lease(namespace, name, uid)
        known = self.caches.leases.get(namespace, name)
        if known is not None and (uid is None or (known.get("metadata") or {}).get("uid") == uid):
            self.caches.leases.delete(known)
