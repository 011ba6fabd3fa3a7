"""The e2e tier's chart identity: the RBAC it creates is the chart's, and a refusal is recognised."""

from __future__ import annotations

import json

from kopf._cogs.clients.errors import APIForbiddenError
from kubernetes.client.exceptions import ApiException

from tests.e2e.rbac import forbidden_lines, render_rbac

# The body a real kube-apiserver (1.28) answered to a list the user may not make.
REFUSAL = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": 'pods is forbidden: User "system:serviceaccount:x:y" cannot list resource "pods" '
                      'in API group "" in the namespace "x"',
           "reason": "Forbidden", "details": {"kind": "pods"}, "code": 403}


def test_the_session_identity_is_the_charts_rbac_for_its_namespace() -> None:
    objects = render_rbac("cvmfs-e2e-abc-op", "cvmfs-e2e-abc")
    kinds = sorted(obj["kind"] for obj in objects)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount"]
    account = next(obj for obj in objects if obj["kind"] == "ServiceAccount")["metadata"]
    assert account["namespace"] == "cvmfs-e2e-abc"
    for binding in (obj for obj in objects if obj["kind"].endswith("Binding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["name"],
                                        "namespace": "cvmfs-e2e-abc"}]
    role = next(obj for obj in objects if obj["kind"] == "Role")
    assert role["metadata"]["namespace"] == "cvmfs-e2e-abc"
    assert any("pods" in rule["resources"] for rule in role["rules"])


def test_refusals_are_found_in_every_shape_the_operator_logs_them() -> None:
    exc = ApiException(status=403, reason="Forbidden")
    exc.body = json.dumps(REFUSAL)
    kopf_error = APIForbiddenError(REFUSAL, status=403, headers={})  # type: ignore[arg-type]
    log = "\n".join([
        "[2026-12-02 01:00:00,000] kopf.objects [INFO] Handler 'run' succeeded.",
        f"[2026-12-02 01:00:01,000] kopf._cogs.clients [WARNING] Request attempt #1/9 failed; "
        f"will retry: GET https://127.0.0.1:6443/api/v1/namespaces/x/pods -> {kopf_error!r}",
        f"[2026-12-02 01:00:02,000] cvmfs [WARNING] Will retry in 1.0 s: list pods: HTTP 403 "
        f"{REFUSAL['message']}",
        "[2026-12-02 01:00:03,000] cvmfs [WARNING] Will retry in 2.0 s: delete pod x/p: HTTP 403",
        *str(exc).splitlines(),
        "[2026-12-02 01:00:04,000] cvmfs [WARNING] S3 read failed: An error occurred (403) when calling "
        "the HeadObject operation: Forbidden",
    ])
    found = forbidden_lines(log)
    assert len(found) == 4
    assert "Request attempt #1/9" in found[0]
    assert not any("HeadObject" in line or "succeeded" in line for line in found)
