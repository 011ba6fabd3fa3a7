"""RepositoryOperations in the tests: bodies, and what the API server holds of them."""

from __future__ import annotations

import copy
from typing import Any, cast

from cvmfs_operator.api import contract
from cvmfs_operator.api.operation_contract import (
    OPERATION_CONTRACT_VERSION,
    OPERATION_EXIT_CODES,
    OperationErrorClass,
    OperationResult,
    encode_operation_result,
)
from cvmfs_operator.api.types import GROUP, OPERATION_PLURAL, VERSION
from cvmfs_operator.clients.simkubelet import Fate
from cvmfs_operator.render import names
from tests.support.cluster import Cluster, eventually


def operation(name: str, repo: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "RepositoryOperation",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"repository": repo, **spec}}


async def create(cluster: Cluster, body: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    created: dict[str, Any] = await cluster._run(
        cluster.kube._call, "create RepositoryOperation", cluster.kube.custom.create_namespaced_custom_object,
        GROUP, VERSION, body["metadata"]["namespace"], OPERATION_PLURAL, body)
    return created


async def get(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    found = await cluster._run(cluster.kube.get_repository_operation, namespace, name)
    return cast(dict[str, Any] | None, found)


async def delete(cluster: Cluster, namespace: str, name: str) -> None:
    await cluster._run(cluster.kube._maybe, "delete RepositoryOperation",
                       cluster.kube.custom.delete_namespaced_custom_object,
                       GROUP, VERSION, namespace, OPERATION_PLURAL, name)


async def status(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return dict(((await get(cluster, namespace, name)) or {}).get("status") or {})


async def wait_phase(cluster: Cluster, namespace: str, name: str, phase: str, timeout: float = 60.0,
                     ) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        current = await status(cluster, namespace, name)
        return current if current.get("phase") == phase else None
    return await eventually(check, timeout=timeout, what=f"RepositoryOperation {namespace}/{name} {phase}")


async def pods(cluster: Cluster) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await cluster._run(
        cluster.kube.list_pods, cluster.operator_namespace,
        {names.LABEL_COMPONENT: names.COMPONENT_OPERATION})
    return found


def _result(kind: str, outcome: contract.Outcome, error: OperationErrorClass | None, message: str,
            fields: dict[str, Any]) -> OperationResult:
    result: OperationResult = {
        "contractVersion": OPERATION_CONTRACT_VERSION, "operation": kind,
        "outcome": outcome.value, "errorClass": error.value if error else None,
        "step": "operate" if error else None,
        "message": message, "revisionBefore": None, "revisionAfter": None, "rootHash": None,
        "reflogChecksum": None, "whitelistExpiry": None, "gc": None, "check": None, "durations": {},
        "logTail": [message],
    }
    result.update(fields)  # type: ignore[typeddict-item]
    return result


def failing(kind: str, error: OperationErrorClass, message: str, **fields: Any) -> Fate:
    """An operation pod that ends with this error (its result as the program writes it)."""
    result = _result(kind, contract.Outcome.FAILED, error, message, fields)
    return Fate(exit_code=int(OPERATION_EXIT_CODES[error]), message=encode_operation_result(result).decode())


def claiming(kind: str, message: str, **fields: Any) -> Fate:
    """An operation pod that reports success with these fields, whatever it did (nothing)."""
    result = _result(kind, contract.Outcome.SUCCEEDED, None, message, fields)
    return Fate(message=encode_operation_result(result).decode())
