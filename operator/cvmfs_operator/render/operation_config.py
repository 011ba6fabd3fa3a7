"""The :class:`OperationConfig` of one RepositoryOperation attempt (pure): what the operation program
in the pod is told (docs/publisher-contract.md "Repository operations"); nothing secret."""

from __future__ import annotations

from typing import Any, cast

from cvmfs_operator.api import operation_contract as oc
from cvmfs_operator.api.operations import operation_kind
from cvmfs_operator.api.types import Repository, RepositoryOperation
from cvmfs_operator.render.pod import s3_target


def _with_storage(config: dict[str, Any], repo: Repository) -> oc.OperationConfig:
    s3 = s3_target(repo)
    if s3 is not None:
        config["s3"] = s3
    if "gateway" in repo["spec"]["stratum0"]:
        config["gateway"] = {"url": repo["spec"]["stratum0"]["gateway"]["url"]}
    return cast(oc.OperationConfig, config)


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
    return _with_storage(config, repo)


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
    return _with_storage(config, repo)
