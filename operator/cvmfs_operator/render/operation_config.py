"""The :class:`OperationConfig` of one RepositoryOperation attempt (pure): what the operation program
in the pod is told (docs/publisher-contract.md "Repository operations"); nothing secret."""

from __future__ import annotations

from typing import Any, cast

from cvmfs_operator.api import operation_contract as oc
from cvmfs_operator.api.operations import operation_kind
from cvmfs_operator.api.types import Repository, RepositoryOperation
from cvmfs_operator.render.pod import DEFAULT_S3_ACL, DEFAULT_S3_CONNECTIONS, DEFAULT_S3_REGION


def _storage(config: dict[str, Any], repo: Repository) -> None:
    fqrn = repo["metadata"]["name"]
    stratum0 = repo["spec"]["stratum0"]
    if "s3" in stratum0:
        s3 = stratum0["s3"]
        config["s3"] = {
            "endpoint": s3["endpoint"],
            "bucket": s3["bucket"],
            "region": s3.get("region", DEFAULT_S3_REGION),
            "dnsBuckets": s3.get("addressing", "path") == "virtual",
            "prefix": s3.get("prefix", fqrn),
            "maxConnections": s3.get("maxConnections", DEFAULT_S3_CONNECTIONS),
            "acl": s3.get("acl", DEFAULT_S3_ACL),
        }
    if "gateway" in stratum0:
        config["gateway"] = {"url": stratum0["gateway"]["url"]}


def operation_config(op: RepositoryOperation, repo: Repository, *, reflog_checksum: str | None,
                     revision_before: int | None) -> oc.OperationConfig:
    kind = operation_kind(op)
    if kind is None:
        raise ValueError("the RepositoryOperation does not hold exactly one operation")
    meta = op["metadata"]
    config: dict[str, Any] = {
        "contractVersion": oc.OPERATION_CONTRACT_VERSION,
        "operation": kind,
        "fqrn": repo["metadata"]["name"],
        "stratum0Url": repo["spec"]["stratum0"]["url"],
        "settings": dict(repo["spec"].get("settings", {})),
        "reflogChecksum": reflog_checksum,
        "revisionBefore": revision_before,
        "request": f"{meta['namespace']}/{meta['name']}",
        kind: dict(cast(dict[str, Any], op["spec"][kind])),
    }
    _storage(config, repo)
    return cast(oc.OperationConfig, config)


def creation_config(repo: Repository) -> oc.OperationConfig:
    """The config of the pod that creates ``repo`` (``spec.create``): ``cvmfs_server mkfs``."""
    config: dict[str, Any] = {
        "contractVersion": oc.OPERATION_CONTRACT_VERSION,
        "operation": "create",
        "fqrn": repo["metadata"]["name"],
        "stratum0Url": repo["spec"]["stratum0"]["url"],
        "settings": dict(repo["spec"].get("settings", {})),
        "reflogChecksum": None,
        "revisionBefore": None,
        "request": repo["metadata"]["name"],
        "create": dict(cast(dict[str, Any], repo["spec"].get("create") or {})),
    }
    _storage(config, repo)
    return cast(oc.OperationConfig, config)
