"""The publisher pod of one Transaction attempt: a pure function from specs to a Pod manifest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cvmfs_operator.api import contract
from cvmfs_operator.api.types import Manifest, PublisherSpec, Repository, Transaction
from cvmfs_operator.render import names, podparts
from cvmfs_operator.render.transaction import effective_path, effective_tag, tag_description, timeout_seconds

DEFAULT_S3_REGION = "us-east-1"
DEFAULT_S3_CONNECTIONS = 16
DEFAULT_S3_ACL = "public-read"
STAGE_UID = 65532


@dataclass(frozen=True)
class PodInputs:
    transaction: Transaction
    repository: Repository
    namespace: str  # the operator's namespace
    default_image: str
    attempt: int
    reflog_checksum: str | None
    revision_before: int | None



def s3_target(repo: Repository) -> contract.S3Target | None:
    """The repository's S3 storage as the pod's program is told it, with the defaults the CRD
    documents (publisher and operation configs alike); None for a gateway repository."""
    s3 = repo["spec"]["stratum0"].get("s3")
    if s3 is None:
        return None
    return {
        "endpoint": s3["endpoint"],
        "bucket": s3["bucket"],
        "region": s3.get("region", DEFAULT_S3_REGION),
        "dnsBuckets": s3.get("addressing", "path") == "virtual",
        "prefix": s3.get("prefix", repo["metadata"]["name"]),
        "maxConnections": s3.get("maxConnections", DEFAULT_S3_CONNECTIONS),
        "acl": s3.get("acl", DEFAULT_S3_ACL),
    }

def publisher_config(inputs: PodInputs) -> contract.PublisherConfig:
    txn, repo = inputs.transaction, inputs.repository
    fqrn = repo["metadata"]["name"]
    stratum0 = repo["spec"]["stratum0"]
    publisher: PublisherSpec = repo["spec"].get("publisher", {})
    config: contract.PublisherConfig = {
        "contractVersion": contract.CONTRACT_VERSION,
        "fqrn": fqrn,
        "stratum0Url": stratum0["url"],
        "settings": dict(repo["spec"].get("settings", {})),  # type: ignore[typeddict-item]
        "path": effective_path(txn),
        "payload": txn["spec"]["payload"],
        "tagName": effective_tag(txn),
        "tagDescription": tag_description(txn),
        "reflogChecksum": inputs.reflog_checksum,
        "revisionBefore": inputs.revision_before,
        "transaction": f"{txn['metadata']['namespace']}/{txn['metadata']['name']}",
        "allowScripts": bool(publisher.get("allowScripts", False)),
    }
    s3 = s3_target(repo)
    if s3 is not None:
        config["s3"] = s3
    if "gateway" in stratum0:
        config["gateway"] = {"url": stratum0["gateway"]["url"]}
    staging = repo["spec"].get("staging", {}).get("s3")
    if staging is not None:
        config["staging"] = {
            "endpoint": staging["endpoint"],
            "bucket": staging["bucket"],
            "region": staging.get("region", DEFAULT_S3_REGION),
            "dnsBuckets": staging.get("addressing", "path") == "virtual",
        }
    return config


def _labels(txn: Transaction, fqrn: str, attempt: int) -> dict[str, str]:
    meta = txn["metadata"]
    return {
        names.LABEL_MANAGED_BY: names.MANAGED_BY,
        names.LABEL_COMPONENT: names.COMPONENT_PUBLISHER,
        names.LABEL_REPOSITORY: names.label_value(fqrn),
        names.LABEL_TRANSACTION_UID: meta["uid"],
        names.LABEL_TRANSACTION_NAMESPACE: meta["namespace"],
        names.LABEL_TRANSACTION_NAME: names.label_value(meta["name"]),
        names.LABEL_ATTEMPT: str(attempt),
    }


def _volumes(repo: Repository, has_stage: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    fqrn = repo["metadata"]["name"]
    gateway = "gateway" in repo["spec"]["stratum0"]
    # Only what publishing needs: never the master key, never the repository key in gateway mode.
    key_files = [f"{fqrn}.crt", f"{fqrn}.pub"] if gateway else [f"{fqrn}.crt", f"{fqrn}.key", f"{fqrn}.pub"]
    volumes = [podparts.secret_volume("keys", repo["spec"]["keysSecretRef"]["name"], key_files)]
    mounts: list[dict[str, Any]] = [{"name": "keys", "mountPath": contract.KEYS_DIR, "readOnly": True}]
    for more_volumes, more_mounts in (podparts.storage_volumes(repo), podparts.spool_volume(repo)):
        volumes += more_volumes
        mounts += more_mounts
    if has_stage:
        volumes.append({"name": "staging", "emptyDir": {}})
        mounts.append({"name": "staging", "mountPath": contract.STAGING_DIR, "readOnly": True})
    return volumes, mounts


def _stage_container(txn: Transaction, resources: dict[str, Any]) -> dict[str, Any]:
    stage = txn["spec"]["payload"]["stage"]
    container: dict[str, Any] = {
        "name": "stage",
        "image": stage["image"],
        "env": [
            {"name": "STAGING_DIR", "value": contract.STAGING_DIR},
            {"name": "CVMFS_TRANSACTION_PATH", "value": effective_path(txn)},
        ],
        "resources": {kind: {k: v for k, v in values.items() if "/" not in k}
                      for kind, values in resources.items()},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": STAGE_UID,
            "runAsGroup": STAGE_UID,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "staging", "mountPath": contract.STAGING_DIR}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if "command" in stage:
        container["command"] = list(stage["command"])
    if "args" in stage:
        container["args"] = list(stage["args"])
    return container


def render_pod(inputs: PodInputs) -> Manifest:
    txn, repo = inputs.transaction, inputs.repository
    fqrn = repo["metadata"]["name"]
    meta = txn["metadata"]
    publisher: PublisherSpec = repo["spec"].get("publisher", {})
    has_stage = "stage" in txn["spec"]["payload"]
    volumes, mounts = _volumes(repo, has_stage)
    security, device_limits = podparts.privilege(publisher)
    resources = podparts.resources(txn["spec"].get("resources") or publisher.get("resources"), device_limits)
    container: dict[str, Any] = {
        "name": "publisher",
        "image": publisher.get("image", inputs.default_image),
        "imagePullPolicy": publisher.get("imagePullPolicy", "IfNotPresent"),
        "command": ["cvmfs-publisher"],
        "env": [{"name": contract.CONFIG_ENV, "value": contract.encode_config(publisher_config(inputs))}],
        "resources": resources,
        "securityContext": security,
        "volumeMounts": mounts,
        "terminationMessagePath": contract.RESULT_PATH,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    spec = podparts.pod_spec(container, volumes, publisher, timeout_seconds(txn))
    if has_stage:
        spec["initContainers"] = [_stage_container(txn, resources)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": names.pod_name(meta["namespace"], meta["name"], meta["uid"], inputs.attempt),
            "namespace": inputs.namespace,
            "labels": _labels(txn, fqrn, inputs.attempt),
            "annotations": {
                names.ANNOTATION_TRANSACTION: f"{meta['namespace']}/{meta['name']}",
                "cvmfs.cern.ch/tag": effective_tag(txn),
            },
        },
        "spec": spec,
    }
