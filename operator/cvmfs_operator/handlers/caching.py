"""kopf's watches of Repositories and Transactions feed the operator's stores.

kopf already watches both kinds (it has to, for its handlers); every event it sees goes into
:attr:`Runtime.caches` here, so the control loop does not ask the API server for what kopf was
just told. Only Transactions that still need a daemon are kept (GitOps keeps finished ones for
ever: they are not needed and would only cost memory); finished ones drop out.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import kopf

from cvmfs_operator.api.types import GROUP, REPOSITORY_PLURAL, TRANSACTION_PLURAL, VERSION
from cvmfs_operator.handlers.runtime import Runtime, daemon_key
from cvmfs_operator.reconcile.transaction import needs_attention
from cvmfs_operator.render import names


def register(registry: kopf.OperatorRegistry, rt: Runtime) -> None:
    @kopf.on.event(GROUP, VERSION, REPOSITORY_PLURAL, registry=registry, id="cache-repositories")
    def repository_seen(body: kopf.Body, event: kopf.RawEvent, **_: Any) -> None:
        if event.get("type") == "DELETED":
            rt.caches.repositories.delete(dict(body))
        else:
            rt.caches.repositories.put(dict(body))

    @kopf.on.event(GROUP, VERSION, TRANSACTION_PLURAL, registry=registry, id="cache-transactions")
    def transaction_seen(body: kopf.Body, event: kopf.RawEvent, **_: Any) -> None:
        obj = dict(body)
        wanted = needs_attention(dict(obj.get("status") or {}), dict(obj.get("spec") or {}),
                                 datetime.datetime.now(datetime.UTC))
        if event.get("type") == "DELETED" or not wanted:
            rt.caches.transactions.delete(obj)
            return
        meta = obj.get("metadata") or {}
        before = rt.caches.transactions.get(str(meta.get("namespace")), str(meta.get("name")))
        rt.caches.transactions.put(obj)
        if _finalized(obj) and (before is None or not _finalized(before)):
            # Its first step waits for kopf's finalizer (handlers/flow._finalizer_pending): go now.
            rt.wakeups.notify(daemon_key(str(meta.get("uid"))))


def _finalized(obj: Mapping[str, Any]) -> bool:
    return names.FINALIZER in ((obj.get("metadata") or {}).get("finalizers") or [])
