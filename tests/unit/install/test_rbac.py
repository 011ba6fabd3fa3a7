"""RBAC is least privilege: exactly the grants the operator needs, pods/secrets/leases only namespaced."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.unit.install.conftest import CUSTOM_NAMESPACE, ROOT, Obj, only

Grant = tuple[str, str, str]  # (apiGroup, resource, verb)

CLUSTER_GRANTS: set[Grant] = {
    *{("cvmfs.cern.ch", resource, verb)
      for resource in ("transactions", "repositories", "repositoryoperations")
      for verb in ("get", "list", "watch")},
    # finalizers and kopf's progress annotations; Repositories have neither (only their status)
    *{("cvmfs.cern.ch", resource, "patch") for resource in ("transactions", "repositoryoperations")},
    *{("cvmfs.cern.ch", f"{resource}/status", "patch")
      for resource in ("transactions", "repositories", "repositoryoperations")},
    ("", "events", "create"),
}
NAMESPACE_GRANTS: set[Grant] = {
    *{("", "pods", verb) for verb in ("create", "list", "watch", "delete")},
    ("", "secrets", "get"),
    ("", "secrets", "create"),  # the generated keys of a Repository with spec.create
    ("cvmfs.cern.ch", "repositoryoperations", "create"),  # scheduled maintenance
    *{("coordination.k8s.io", "leases", verb) for verb in ("create", "list", "watch", "patch", "delete")},
}
NAMESPACED_ONLY = {"pods", "pods/log", "secrets", "leases"}


def grants(role: Obj) -> set[Grant]:
    found: set[Grant] = set()
    for rule in role["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, f"unexpected rule fields: {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    found.add((group, resource, verb))
    return found


@pytest.fixture(params=["default", "custom"])
def objects(
    request: pytest.FixtureRequest, default_objects: list[Obj], custom_objects: list[Obj],
) -> list[Obj]:
    chosen: list[Obj] = default_objects if request.param == "default" else custom_objects
    return chosen


def test_no_wildcards_anywhere(objects: list[Obj]) -> None:
    for role in (obj for obj in objects if obj["kind"] in ("Role", "ClusterRole")):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                assert "*" not in rule.get(field, []), f"{role['kind']} has a wildcard in {field}: {rule}"
                assert not any("*" in value for value in rule.get(field, [])), rule


def test_cluster_role_grants_exactly_crs_and_events(objects: list[Obj]) -> None:
    assert grants(only(objects, "ClusterRole")) == CLUSTER_GRANTS


def test_role_grants_exactly_pods_secrets_leases_in_the_release_namespace(
    default_objects: list[Obj], custom_objects: list[Obj],
) -> None:
    cases = ((default_objects, "cvmfs-release-operator"), (custom_objects, CUSTOM_NAMESPACE))
    for objects, namespace in cases:
        role = only(objects, "Role")
        assert role["metadata"]["namespace"] == namespace
        assert grants(role) == NAMESPACE_GRANTS


def test_pods_secrets_and_leases_are_never_granted_cluster_wide(objects: list[Obj]) -> None:
    cluster_resources = {resource for _, resource, _ in grants(only(objects, "ClusterRole"))}
    assert not cluster_resources & NAMESPACED_ONLY


def test_cluster_role_creates_only_events_and_deletes_nothing(objects: list[Obj]) -> None:
    cluster = grants(only(objects, "ClusterRole"))
    assert {resource for _, resource, verb in cluster if verb == "create"} == {"events"}
    assert not {verb for _, _, verb in cluster} & {"delete", "deletecollection", "update", "escalate", "bind"}


def test_bindings_tie_each_role_to_the_operator_service_account(objects: list[Obj]) -> None:
    deployment = only(objects, "Deployment")
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    namespace = deployment["metadata"]["namespace"]
    service_account = only(objects, "ServiceAccount")["metadata"]
    assert (service_account["name"], service_account["namespace"]) == (account, namespace)
    for binding_kind, role_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        binding = only(objects, binding_kind)
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io", "kind": role_kind,
            "name": only(objects, role_kind)["metadata"]["name"],
        }
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]
    assert only(objects, "RoleBinding")["metadata"]["namespace"] == namespace


def test_existing_service_account_is_bound_when_the_chart_does_not_create_one(
    render: Callable[..., list[Obj]],
) -> None:
    objects = render({"serviceAccount": {"create": False, "name": "preexisting"}})
    assert "ServiceAccount" not in {obj["kind"] for obj in objects}
    assert only(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "preexisting"
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        assert only(objects, kind)["subjects"][0]["name"] == "preexisting"


def test_custom_resource_grants_match_the_crds(default_objects: list[Obj]) -> None:
    """Every CRD in crds/ is granted under its real group and plural, status included."""
    crds: list[dict[str, Any]] = [
        doc for path in sorted((ROOT / "crds").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text()) if doc
    ]
    if not crds:
        pytest.skip("no CRDs in crds/ yet")
    granted = {(group, resource) for group, resource, _ in grants(only(default_objects, "ClusterRole"))
               if group not in ("", "events.k8s.io")}
    expected = set()
    for crd in crds:
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        expected.add((group, plural))
        if any("status" in version.get("subresources", {}) for version in crd["spec"]["versions"]):
            expected.add((group, f"{plural}/status"))
    assert granted == expected
