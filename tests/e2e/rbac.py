"""The local operator under the chart's own RBAC: a token of the chart's ServiceAccount.

With ``--e2e-operator-rbac=chart`` (the default on a real API server) the session renders the
chart's ServiceAccount, ClusterRole, Role and their bindings with Helm's SDK for the session's
operator namespace, creates them, asks the API server for a token of that ServiceAccount
(TokenRequest) and starts the operator with a kubeconfig holding only that token. Every scenario
then runs with exactly the permissions a Helm install grants; a request the chart does not allow
is refused 403 by the API server's own authorizer, which the operator's log shows and each
scenario fails on (:func:`forbidden_lines`).
"""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python
import kubernetes
import yaml
from kubernetes import utils as kube_utils
from kubernetes.client.exceptions import ApiException

CHART = Path(__file__).resolve().parents[2] / "charts" / "cvmfs-release-operator"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
TOKEN_SECONDS = 4 * 3600
# What a request refused by RBAC leaves in the operator's log: the API server's message (in kopf's
# APIForbiddenError, the kubernetes client's ApiException and the operator's own KubeError), the
# operator's "HTTP 403" without one, or the ApiException's reason line.
FORBIDDEN = re.compile(r'is forbidden: User "|APIForbiddenError|HTTP 40[13]\b|Reason: Forbidden')


def render_rbac(release: str, namespace: str) -> list[dict[str, Any]]:
    """The chart's RBAC objects for a release in ``namespace``, as Helm renders them."""
    with helm_python.Chart.load(CHART) as chart:
        rendered = chart.render({}, name=release, namespace=namespace)
    objects: list[dict[str, Any]] = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text)
                       if isinstance(doc, dict) and doc.get("kind") in RBAC_KINDS)
    return objects


def forbidden_lines(log: str) -> list[str]:
    """The operator's log lines that report a request the API server refused for lack of RBAC."""
    return [line for line in log.splitlines() if FORBIDDEN.search(line)]


def assert_never_refused(log: str) -> None:
    refused = forbidden_lines(log)
    assert not refused, "the API server refused the operator's requests (RBAC):\n" + "\n".join(refused[:20])


@dataclass
class ChartIdentity:
    """The chart's RBAC, created for one session, and a kubeconfig that authenticates as it."""

    api_client: kubernetes.client.ApiClient
    release: str
    namespace: str
    objects: list[dict[str, Any]]

    @property
    def service_account(self) -> str:
        return str(next(o for o in self.objects if o["kind"] == "ServiceAccount")["metadata"]["name"])

    async def create(self) -> None:
        for obj in self.objects:
            try:
                await asyncio.to_thread(kube_utils.create_from_dict, self.api_client, obj)
            except kube_utils.FailToCreateError as exc:
                if not all(e.status == 409 for e in exc.api_exceptions):
                    raise

    async def delete(self) -> None:
        """The cluster-scoped objects (the namespaced ones go with the operator namespace)."""
        rbac = kubernetes.client.RbacAuthorizationV1Api(self.api_client)
        for obj in self.objects:
            name = obj["metadata"]["name"]
            delete = {"ClusterRole": rbac.delete_cluster_role,
                      "ClusterRoleBinding": rbac.delete_cluster_role_binding}.get(obj["kind"])
            if delete is None:
                continue
            try:
                await asyncio.to_thread(delete, name)
            except ApiException as exc:
                if exc.status != 404:
                    raise

    async def kubeconfig(self, path: Path) -> Path:
        """A kubeconfig for the same API server that carries only the ServiceAccount's token."""
        core = kubernetes.client.CoreV1Api(self.api_client)
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                   "spec": {"expirationSeconds": TOKEN_SECONDS}}
        answer = await asyncio.to_thread(core.create_namespaced_service_account_token,
                                         self.service_account, self.namespace, request)
        user = f"system:serviceaccount:{self.namespace}:{self.service_account}"
        await asyncio.to_thread(_write_kubeconfig, path, self.api_client.configuration, user,
                                answer.status.token)
        return path


def _write_kubeconfig(path: Path, config: kubernetes.client.Configuration, user: str, token: str) -> None:
    cluster: dict[str, Any] = {"server": config.host}
    if not config.verify_ssl:
        cluster["insecure-skip-tls-verify"] = True
    elif config.ssl_ca_cert:
        cluster["certificate-authority-data"] = base64.b64encode(
            Path(config.ssl_ca_cert).read_bytes()).decode()
    document = {
        "apiVersion": "v1", "kind": "Config", "current-context": "chart",
        "clusters": [{"name": "e2e", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "chart", "context": {"cluster": "e2e", "user": user}}],
    }
    path.write_text(yaml.safe_dump(document))
    path.chmod(0o600)
