"""The pod of one repository operation attempt (a RepositoryOperation, or creating a Repository):
a pure function from specs to a Pod manifest, with the publisher pods' security posture
(render/podparts.py) and only the keys the operation needs.

The operation program's configuration is built elsewhere (its contract belongs to the program) and
arrives here as a JSON-ready mapping, rendered into :data:`CONFIG_ENV`; nothing secret may be in it.
Secrets are files: the repository keys at ``/run/cvmfs/keys`` (only the files asked for), the
master key, when asked for, from its own Secret at :data:`MASTER_KEY_DIR`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cvmfs_operator.api import contract
from cvmfs_operator.api.operations import KeySet, keys_needed, operation_kind, timeout_seconds
from cvmfs_operator.api.types import Manifest, Repository, RepositoryOperation
from cvmfs_operator.render import names, podparts

CONFIG_ENV = "CVMFS_OPERATION_CONFIG"
COMMAND = ("cvmfs-operation",)
MASTER_KEY_DIR = "/run/cvmfs/masterkey"  # <fqrn>.masterkey, mode 0400; never in publisher pods
COMPONENT = names.COMPONENT_OPERATION
CREATE = "create"


@dataclass(frozen=True)
class Subject:
    """What an operation pod works for: a RepositoryOperation, or a Repository being created."""

    kind: str  # rollback, tag, resign, gc, check, or create
    namespace: str  # "" for a Repository (cluster-scoped)
    name: str
    uid: str

    @property
    def display(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def subject_of(op: RepositoryOperation) -> Subject:
    kind = operation_kind(op)
    if kind is None:
        raise ValueError("the RepositoryOperation does not hold exactly one operation")
    meta = op["metadata"]
    return Subject(kind, meta["namespace"], meta["name"], meta["uid"])


def creation_of(repo: Repository) -> Subject:
    meta = repo["metadata"]
    return Subject(CREATE, "", meta["name"], meta["uid"])


@dataclass(frozen=True)
class OperationPodInputs:
    subject: Subject
    repository: Repository
    namespace: str  # the operator's namespace
    default_image: str
    attempt: int
    config: Mapping[str, Any]  # the operation program's configuration (JSON-serialisable, no secrets)
    timeout_seconds: int
    keys: KeySet | None = None  # default: api.operations.keys_needed(subject.kind)
    command: tuple[str, ...] = COMMAND


def inputs_for(op: RepositoryOperation, repository: Repository, *, namespace: str, default_image: str,
               attempt: int, config: Mapping[str, Any]) -> OperationPodInputs:
    """The inputs for a RepositoryOperation's pod, its deadline from ``spec.timeoutSeconds``."""
    return OperationPodInputs(subject=subject_of(op), repository=repository, namespace=namespace,
                              default_image=default_image, attempt=attempt, config=config,
                              timeout_seconds=timeout_seconds(op))


def _labels(subject: Subject, fqrn: str, attempt: int) -> dict[str, str]:
    labels = {
        names.LABEL_MANAGED_BY: names.MANAGED_BY,
        names.LABEL_COMPONENT: COMPONENT,
        names.LABEL_REPOSITORY: names.label_value(fqrn),
        names.LABEL_OPERATION: subject.kind,
        names.LABEL_OPERATION_UID: subject.uid,
        names.LABEL_OPERATION_NAME: names.label_value(subject.name),
        names.LABEL_ATTEMPT: str(attempt),
    }
    if subject.namespace:
        labels[names.LABEL_OPERATION_NAMESPACE] = subject.namespace
    return labels


def _key_volumes(repo: Repository, keys: KeySet) -> podparts.Volumes:
    fqrn = repo["metadata"]["name"]
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if keys.repository:
        files = [f"{fqrn}.{suffix}" for suffix in keys.repository]
        volumes.append(podparts.secret_volume("keys", repo["spec"]["keysSecretRef"]["name"], files))
        mounts.append({"name": "keys", "mountPath": contract.KEYS_DIR, "readOnly": True})
    if keys.master_key:
        ref = repo["spec"].get("masterKeySecretRef")
        if ref is None:
            raise ValueError(f"Repository {fqrn} has no spec.masterKeySecretRef for the master key")
        volumes.append(podparts.secret_volume("master-key", ref["name"], [f"{fqrn}.masterkey"]))
        mounts.append({"name": "master-key", "mountPath": MASTER_KEY_DIR, "readOnly": True})
    return volumes, mounts


def render_operation_pod(inputs: OperationPodInputs) -> Manifest:
    repo, subject = inputs.repository, inputs.subject
    fqrn = repo["metadata"]["name"]
    publisher = podparts.publisher_spec(repo)
    keys = inputs.keys if inputs.keys is not None else keys_needed(subject.kind)
    volumes, mounts = _key_volumes(repo, keys)
    for more_volumes, more_mounts in (podparts.storage_volumes(repo), podparts.spool_volume(repo)):
        volumes += more_volumes
        mounts += more_mounts
    security, device_limits = podparts.privilege(publisher)
    container: dict[str, Any] = {
        "name": COMPONENT,
        "image": publisher.get("image", inputs.default_image),
        "imagePullPolicy": publisher.get("imagePullPolicy", "IfNotPresent"),
        "command": list(inputs.command),
        "env": [{"name": CONFIG_ENV, "value": json.dumps(dict(inputs.config), sort_keys=True,
                                                          separators=(",", ":"))}],
        "resources": podparts.resources(publisher.get("resources"), device_limits),
        "securityContext": security,
        "volumeMounts": mounts,
        "terminationMessagePath": contract.RESULT_PATH,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": names.operation_pod_name(subject.namespace, subject.name, subject.uid, inputs.attempt),
            "namespace": inputs.namespace,
            "labels": _labels(subject, fqrn, inputs.attempt),
            "annotations": {
                names.ANNOTATION_OPERATION: subject.display,
                names.ANNOTATION_REPOSITORY: fqrn,
            },
        },
        "spec": podparts.pod_spec(container, volumes, publisher, inputs.timeout_seconds),
    }
