"""Create objects from YAML documents, the way ``kubectl create -f`` does, for the demo.

Only the kinds the demo needs: Secrets, Repositories, Transactions and RepositoryOperations (no
Namespaces: kmock's emulator cannot serve ``/api/v1/namespaces``, and every namespace exists there
implicitly). Creating an object that already exists is not an error (the existing one is kept, as
with the operator's own children); any other kind is refused with :class:`UnsupportedKind`.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from cvmfs_operator.api import contract
from cvmfs_operator.api.types import (
    API_VERSION,
    GROUP,
    OPERATION_PLURAL,
    REPOSITORY_PLURAL,
    TRANSACTION_PLURAL,
    VERSION,
)
from cvmfs_operator.clients.errors import AlreadyExists
from cvmfs_operator.clients.kube import KubeClient

# Creation order: what others refer to comes first (kubectl leaves this to the user).
KIND_ORDER = {("v1", "Secret"): 0, (API_VERSION, "Repository"): 1, (API_VERSION, "Transaction"): 2,
              (API_VERSION, "RepositoryOperation"): 3}


class UnsupportedKind(ValueError):
    """The document is of a kind this helper does not create."""


def load_documents(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every non-empty YAML document of every file, in file order."""
    documents: list[dict[str, Any]] = []
    for path in paths:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if not doc:
                    continue
                if not isinstance(doc, dict):
                    raise UnsupportedKind(f"{path}: a document is not a mapping")
                documents.append(doc)
    return documents


def creation_order(documents: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Referenced kinds first; within a kind by namespace and name, which is also how the
    operator breaks ties between Transactions created in the same second."""
    def key(doc: Mapping[str, Any]) -> tuple[int, str, str]:
        meta = doc.get("metadata") or {}
        rank = KIND_ORDER.get((str(doc.get("apiVersion")), str(doc.get("kind"))), len(KIND_ORDER))
        return rank, str(meta.get("namespace") or ""), str(meta.get("name") or "")
    return [copy.deepcopy(dict(doc)) for doc in sorted(documents, key=key)]


def placeholder_secrets(documents: Iterable[Mapping[str, Any]], namespace: str, value: bytes
                        ) -> list[dict[str, Any]]:
    """Secrets the Repositories among ``documents`` refer to (keys, S3 credentials, gateway key),
    every key holding ``value``: stand-ins for a simulation, where no real key may be used."""
    secrets: dict[str, list[str]] = {}
    for doc in documents:
        if doc.get("apiVersion") != API_VERSION or doc.get("kind") != "Repository":
            continue
        fqrn = str((doc.get("metadata") or {}).get("name"))
        spec: dict[str, Any] = doc.get("spec") or {}
        stratum0: dict[str, Any] = spec.get("stratum0") or {}
        for ref, keys in ((spec.get("keysSecretRef"), [f"{fqrn}.crt", f"{fqrn}.key", f"{fqrn}.pub"]),
                          (spec.get("masterKeySecretRef"), [f"{fqrn}.masterkey"]),
                          ((stratum0.get("s3") or {}).get("credentialsSecretRef"),
                           [contract.S3_ACCESS_KEY_FILE, contract.S3_SECRET_KEY_FILE]),
                          ((stratum0.get("gateway") or {}).get("keySecretRef"), [f"{fqrn}.gw"])):
            if isinstance(ref, dict) and ref.get("name"):
                secrets[str(ref["name"])] = keys
    encoded = base64.b64encode(value).decode()
    labels = {"cvmfs.cern.ch/simulation": "true"}
    return [{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
             "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
             "data": dict.fromkeys(keys, encoded)} for name, keys in sorted(secrets.items())]


def describe(body: Mapping[str, Any]) -> str:
    """``Kind namespace/name`` or ``Kind name``, for messages."""
    meta = body.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{body.get('kind')} {where}{meta.get('name')}"


def create(kube: KubeClient, body: Mapping[str, Any], default_namespace: str = "default"
           ) -> dict[str, Any] | None:
    """Create the object; the created object, or None when one of that name already exists."""
    obj: dict[str, Any] = copy.deepcopy(dict(body))
    kind = (str(obj.get("apiVersion")), str(obj.get("kind")))
    meta = obj.setdefault("metadata", {})
    namespaced = kind in (("v1", "Secret"), (API_VERSION, "Transaction"),
                          (API_VERSION, "RepositoryOperation"))
    if namespaced:
        meta.setdefault("namespace", default_namespace)
    namespace = str(meta.get("namespace") or "")
    what = f"create {describe(obj)}"
    fn: Any
    args: tuple[Any, ...]
    if kind == ("v1", "Secret"):
        fn, args = kube.core.create_namespaced_secret, (namespace, obj)
    elif kind == (API_VERSION, "Repository"):
        fn, args = kube.custom.create_cluster_custom_object, (GROUP, VERSION, REPOSITORY_PLURAL, obj)
    elif kind == (API_VERSION, "Transaction"):
        fn, args = (kube.custom.create_namespaced_custom_object,
                    (GROUP, VERSION, namespace, TRANSACTION_PLURAL, obj))
    elif kind == (API_VERSION, "RepositoryOperation"):
        fn, args = (kube.custom.create_namespaced_custom_object,
                    (GROUP, VERSION, namespace, OPERATION_PLURAL, obj))
    else:
        raise UnsupportedKind(f"cannot create {kind[1]} ({kind[0]}): not one of {sorted(KIND_ORDER)}")
    try:
        return dict(kube._call(what, fn, *args))
    except AlreadyExists:
        return None
