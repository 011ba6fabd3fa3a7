"""Deterministic, DNS-safe, length-bounded names and labels of the objects the operator owns."""

from __future__ import annotations

import datetime
import hashlib
import re
from typing import overload

from cvmfs_operator.api.types import GROUP

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "cvmfs-release-operator"
FINALIZER = "cvmfs.cern.ch/publisher-cleanup"  # kopf's, on Transactions (stops their pods on deletion)
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_REPOSITORY = f"{GROUP}/repository"
LABEL_TRANSACTION_UID = f"{GROUP}/transaction-uid"
LABEL_TRANSACTION_NAMESPACE = f"{GROUP}/transaction-namespace"
LABEL_TRANSACTION_NAME = f"{GROUP}/transaction-name"
LABEL_ATTEMPT = f"{GROUP}/attempt"
LABEL_OPERATION = f"{GROUP}/operation"  # rollback, tag, resign, gc, check, create
LABEL_OPERATION_UID = f"{GROUP}/operation-uid"
LABEL_OPERATION_NAMESPACE = f"{GROUP}/operation-namespace"
LABEL_OPERATION_NAME = f"{GROUP}/operation-name"
ANNOTATION_OPERATION = f"{GROUP}/repository-operation"  # <namespace>/<name> (a Repository's name: create)
ANNOTATION_REPOSITORY = f"{GROUP}/repository"  # the lock Lease's full repository name (labels are cut)
ANNOTATION_TRANSACTION = f"{GROUP}/transaction"  # a publisher pod's <namespace>/<name> (labels are cut)
# app.kubernetes.io/component of the operator's pods and locks
COMPONENT_PUBLISHER = "publisher"  # a Transaction's publisher pod
COMPONENT_OPERATION = "operation"  # a RepositoryOperation's pod (and a Repository's creation)
COMPONENT_LOCK = "repository-lock"  # a repository's lock Lease

_DNS_UNSAFE = re.compile(r"[^a-z0-9-]+")
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_NAME = 63  # DNS label: the pod name is also its hostname
MAX_LABEL_VALUE = 63
MAX_TAG = 63


def _digest(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:length]


def slug(text: str, limit: int) -> str:
    """Lower-case DNS label characters only, trimmed to ``limit`` and of dashes at both ends."""
    return _DNS_UNSAFE.sub("-", text.lower()).strip("-")[:limit].strip("-")


def bounded(prefix: str, readable: str, *unique: str) -> str:
    """``<prefix>-<readable slug>-<hash of unique parts>``, at most 63 characters."""
    suffix = _digest(*unique)
    room = MAX_NAME - len(prefix) - len(suffix) - 2
    body = slug(readable, room)
    return f"{prefix}-{body}-{suffix}" if body else f"{prefix}-{suffix}"


def pod_name(namespace: str, name: str, uid: str, attempt: int) -> str:
    """One pod per Transaction attempt; a second create of the same attempt gets a 409."""
    return bounded(f"cvmfs-pub-a{attempt}", f"{namespace}-{name}", uid, str(attempt))


def operation_pod_name(namespace: str, name: str, uid: str, attempt: int) -> str:
    """One pod per RepositoryOperation attempt (or per attempt at creating a Repository, whose
    namespace is "")."""
    return bounded(f"cvmfs-op-a{attempt}", f"{namespace}-{name}", uid, str(attempt))


def scheduled_operation_name(kind: str, fqrn: str, slot: datetime.datetime) -> str:
    """The RepositoryOperation of one schedule slot (``spec.maintenance.gc``/``check``): every
    replica and every restart derives the same name, so a slot's operation is created at most once."""
    at = slot.astimezone(datetime.UTC).strftime("%Y%m%d-%H%M")
    return bounded(kind, f"{at}-{fqrn}", kind, fqrn, at)


def resign_operation_name(fqrn: str, expires: datetime.datetime) -> str:
    """The automatic re-signing of the whitelist that expires at ``expires``: at most one each."""
    at = expires.astimezone(datetime.UTC).strftime("%Y%m%d-%H%M")
    return bounded("resign", f"{at}-{fqrn}", "resign", fqrn, at)


def lock_name(fqrn: str) -> str:
    """The per-repository Lease that a second publisher cannot take (API-server atomic create)."""
    return bounded("cvmfs-lock", fqrn, fqrn)


def label_value(text: str) -> str:
    """A label value: at most 63 characters of ``[A-Za-z0-9_.-]``, alphanumeric at both ends."""
    clean = _TAG_UNSAFE.sub("-", text).strip("-_.")
    if len(clean) <= MAX_LABEL_VALUE:
        return clean
    suffix = _digest(text)
    return clean[: MAX_LABEL_VALUE - len(suffix) - 1].rstrip("-_.") + "-" + suffix


def default_tag(namespace: str, name: str) -> str:
    """The tag a Transaction publishes when ``spec.tag.name`` is not given: ``<namespace>_<name>``.

    Derived from namespace and name (not the uid), so a GitOps controller that re-creates a
    deleted Transaction finds its tag already in the repository and does not publish twice.
    The ``_`` separator appears in no Kubernetes namespace or object name, so two Transactions
    never share a default tag, and the result is never a tag cvmfs reserves (``trunk``,
    ``trunk-previous``, ``generic-*``).
    """
    text = _TAG_UNSAFE.sub("-", f"{namespace}_{name}")
    if len(text) <= MAX_TAG:
        return text
    suffix = _digest(namespace, name)
    return text[: MAX_TAG - len(suffix) - 1] + "-" + suffix


def holder_identity(namespace: str, name: str, uid: str) -> str:
    """Who holds a repository lock: the Transaction, by namespace, name and uid."""
    return f"{namespace}/{name}/{uid}"


@overload
def holder_uid(holder: str) -> str: ...
@overload
def holder_uid(holder: str | None) -> str | None: ...
def holder_uid(holder: str | None) -> str | None:
    """The uid in a lock holder's identity (:func:`holder_identity`); None for no holder."""
    return holder.rsplit("/", 1)[-1] if holder else None
