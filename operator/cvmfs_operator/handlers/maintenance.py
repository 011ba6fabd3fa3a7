"""Scheduled maintenance and automatic re-signing: the RepositoryOperations a Repository's health
read finds due (reconcile/maintenance.py) are created in the operator's namespace.

Their names are their slots, so the API server's create is the once-only guard: 409 means this
or another process created it already. What was created or found is remembered per Repository
only to spare the API server a create per health read; nothing depends on it.
"""

from __future__ import annotations

import collections
import datetime
import threading
from collections.abc import Mapping
from typing import Any

from cvmfs_operator.api.types import Repository
from cvmfs_operator.clients.errors import AlreadyExists, KubeError
from cvmfs_operator.handlers.runtime import Logger, Runtime
from cvmfs_operator.reconcile import maintenance
from cvmfs_operator.reconcile.observed import parse_time

REMEMBERED = 16  # names per Repository (a few slots of each kind)


class Maintenance:
    def __init__(self) -> None:
        self._known: dict[str, collections.deque[str]] = {}
        self._guard = threading.Lock()

    def _seen(self, fqrn: str, name: str) -> bool:
        with self._guard:
            return name in self._known.get(fqrn, ())

    def _remember(self, fqrn: str, name: str) -> None:
        with self._guard:
            self._known.setdefault(fqrn, collections.deque(maxlen=REMEMBERED)).append(name)

    def forget(self, fqrn: str) -> None:
        with self._guard:
            self._known.pop(fqrn, None)

    def run(self, rt: Runtime, repo: Repository, health: Mapping[str, Any], logger: Logger) -> None:
        """Create what is due for ``repo`` (``health``: the status fields its read just produced)."""
        fqrn = repo["metadata"]["name"]
        expires = parse_time(health.get("whitelistExpiresAt"))
        now = datetime.datetime.now(datetime.UTC)
        for manifest in maintenance.due(repo, whitelist_expires=expires, now=now,
                                        namespace=rt.settings.namespace):
            name = manifest["metadata"]["name"]
            if self._seen(fqrn, name):
                continue
            try:
                rt.kube.create_repository_operation(manifest)
            except AlreadyExists:
                pass  # created before (a restart, another replica)
            except KubeError as error:
                logger.warning("Could not create RepositoryOperation %s: %s", name, error)
                continue
            else:
                kind = manifest["metadata"]["labels"].get("cvmfs.cern.ch/operation", "")
                message = f"Created RepositoryOperation {rt.settings.namespace}/{name} ({kind})"
                logger.info("%s", message)
                rt.kube.post_event(repo, "Normal", "OperationScheduled", message)
            self._remember(fqrn, name)
