"""Least privilege, checked by what the operator really asks: a representative scenario runs through
the recording proxy, and the chart's rendered RBAC must allow every request it saw and grant
nothing the operator never uses."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cvmfs_operator.api import contract
from cvmfs_operator.cli.emulator import ApiEmulator
from cvmfs_operator.render import names
from tests.integration.operator.conftest import (
    FQRN,
    OPERATOR_NAMESPACE,
    Fate,
    Kubelet,
    RepoFactory,
    transaction,
)
from tests.support import operations as ops
from tests.support import rbac
from tests.support.apiproxy import ApiProxy, RequestInfo
from tests.support.cluster import Cluster, OperatorProcess, eventually
from tests.support.emulated import with_real_discovery

ROOT = Path(__file__).resolve().parents[3]
OTHER = "other.example.org"
THIRD = "third.example.org"
MAINTAINED = "maintained.example.org"
MADE = "made.example.org"

# Grants the emulator cannot show being used, each with why a real API server needs it.
REAL_SERVER_ONLY: dict[tuple[str, str, str], str] = {}
# Grants this scenario cannot make happen.
NOT_YET_USED: dict[tuple[str, str, str], str] = {
    ("get", "cvmfs.cern.ch", "repositoryoperations"): "read one by one only when kopf's watch has not "
    "brought it to the store: refreshed after a status write conflict, or a finished one's finalizer "
    "long after it left the store",
}

# Non-resource URLs: API discovery, which every authenticated user may read (the default
# ClusterRoles system:discovery and system:public-info-viewer), so the chart grants nothing for it.
DISCOVERY_PREFIXES = ("/api", "/apis", "/version")


def _render_chart(namespace: str) -> list[dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("gen_install", ROOT / ".ci" / "gen_install.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    objects: list[dict[str, Any]] = module.render_chart(ROOT, None, namespace=namespace)
    return objects


@pytest.fixture
async def proxy(api: ApiEmulator) -> AsyncIterator[ApiProxy]:
    with_real_discovery(api)
    async with ApiProxy(str(api.url)) as running:
        yield running


@pytest.fixture
def operator_env(operator_env: dict[str, str], proxy: ApiProxy) -> dict[str, str]:
    return {**operator_env, "CVMFS_OPERATOR_API_SERVER": proxy.url}


async def _representative_scenario(cluster: Cluster, kubelet: Kubelet, repository: RepoFactory) -> None:
    """Publish, retry after a failed pod, delete a running Transaction, refuse a namespace, sweep an
    orphan pod, wait for a Repository that does not exist: every kind of request the operator makes
    (three repositories, so it runs at once)."""
    kubelet.fates["flaky"] = [Fate.fail(contract.ErrorClass.ATTACH_FAILED, "S3 endpoint timed out"), Fate()]
    kubelet.fates["stuck"] = Fate(hang=True)
    kubelet.fates["gone"] = Fate(hang=True)
    for fqrn in (FQRN, OTHER, THIRD):
        await cluster.create_repository(repository(fqrn))
    # A publisher pod whose Transaction is gone: the Repository's health timer deletes it.
    orphan = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "cvmfs-pub-orphan", "namespace": OPERATOR_NAMESPACE,
        "annotations": {names.ANNOTATION_TRANSACTION: "default/gone"},
        "labels": {names.LABEL_MANAGED_BY: names.MANAGED_BY, names.LABEL_COMPONENT: "publisher",
                   names.LABEL_REPOSITORY: names.label_value(FQRN),
                   names.LABEL_TRANSACTION_UID: "0000", names.LABEL_TRANSACTION_NAME: "gone"}},
        "spec": {"containers": [{"name": "publisher", "image": "x"}]}}
    await cluster._run(cluster.kube.core.create_namespaced_pod, OPERATOR_NAMESPACE, orphan)

    async def swept() -> bool:
        return not [p for p in await cluster.publisher_pods() if p["metadata"]["name"] == "cvmfs-pub-orphan"]
    # Swept before any Transaction starts: the invariants below count every publisher pod.
    await eventually(swept, timeout=30, what="the orphan pod deleted by the health timer")
    await cluster.create_transaction(transaction("flaky", backoffLimit=1))
    kubelet.fates["plain"] = Fate(seconds=2.0)
    await cluster.create_transaction(transaction("plain", repo=OTHER))
    await cluster.create_transaction(transaction("plain-next", repo=OTHER))  # the lock handed over
    await cluster.create_transaction(transaction("stuck", repo=THIRD))
    await cluster.create_transaction(transaction("outsider", namespace="elsewhere"))
    # A Repository the operator has not seen (not created yet): asked for by name, 404.
    await cluster.create_transaction(transaction("early", repo="later.example.org"))

    await cluster.wait_phase("default", "stuck", "Running")
    await cluster.delete_transaction("default", "stuck")
    await cluster.wait_phase("default", "flaky", "Succeeded")
    await cluster.wait_phase("default", "plain", "Succeeded")
    await cluster.wait_phase("default", "plain-next", "Succeeded")
    await cluster.wait_phase("elsewhere", "outsider", "Failed")
    await cluster.wait_gone("default", "stuck")
    early = await cluster.wait_phase("default", "early", "Pending")
    assert early["reason"] == "RepositoryNotFound"
    await cluster.delete_transaction("default", "early")
    await cluster.wait_gone("default", "early")

    # A RepositoryOperation on demand, and one the operator schedules in its own namespace.
    await ops.create(cluster, ops.operation("tag-it", OTHER, tag={"action": "add", "name": "stable"}))
    await ops.wait_phase(cluster, "default", "tag-it", "Succeeded")
    scheduled = repository(MAINTAINED, maintenance={"check": {"schedule": "* * * * *"}})
    await cluster.create_repository(scheduled)

    async def checked() -> bool:
        status = ((await cluster.repository(MAINTAINED)) or {}).get("status") or {}
        return bool((status.get("lastCheck") or {}).get("result") == "Succeeded")
    await eventually(checked, timeout=60, what="a scheduled check recorded on its Repository")

    # A Repository the operator creates: its keys are Secrets it makes.
    await cluster.create_repository(repository(MADE, seed=False, create={},
                                               keysSecretRef={"name": "made-keys"},
                                               masterKeySecretRef={"name": "made-masterkey"}))

    async def made() -> bool:
        status = ((await cluster.repository(MADE)) or {}).get("status") or {}
        return any(c["type"] == "Created" and c["status"] == "True" for c in status.get("conditions", []))
    await eventually(made, timeout=60, what="a Repository created by the operator")



async def test_every_request_is_allowed_by_the_chart_and_every_grant_is_used(
        cluster: Cluster, proxy: ApiProxy, operator: OperatorProcess, kubelet: Kubelet,
        repository: RepoFactory) -> None:
    await _representative_scenario(cluster, kubelet, repository)

    objects = _render_chart(OPERATOR_NAMESPACE)
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    grants = list(rbac.grants_for(objects, account, OPERATOR_NAMESPACE))

    infos: set[RequestInfo] = {r.info for r in proxy.records}
    refused = sorted(f"{i.verb} {i.group}/{i.full_resource} ns={i.namespace!r} name={i.name!r}"
                     for i in infos if i.is_resource and not rbac.allowed(grants, rbac.Ask(
                         i.verb, i.group, i.full_resource, i.namespace, i.name)))
    assert not refused, f"the chart's RBAC would refuse (403) what the operator asked: {refused}"
    other = sorted({i.path for i in infos if not i.is_resource and not i.path.startswith(DISCOVERY_PREFIXES)})
    assert not other, f"non-resource requests beyond discovery: {other}"

    used = {(i.verb, i.group, i.full_resource) for i in infos if i.is_resource}
    granted = {(verb, group, resource) for verb, group, resource, _ in rbac.triples(grants)}
    unused = sorted(granted - used - set(REAL_SERVER_ONLY) - set(NOT_YET_USED))
    assert not unused, f"the chart grants what the operator never asked for: {unused}"
