"""The recording proxy's verb derivation and the RBAC matcher, against the rules of the API server
(k8s.io/apiserver RequestInfoFactory, k8s.io/kubernetes rbac/v1 helpers)."""

from __future__ import annotations

import pytest

from tests.support import rbac
from tests.support.apiproxy import request_info

CASES = [
    ("GET", "/api/v1/namespaces/ns/pods", {}, ("list", "", "pods", "ns", "")),
    ("GET", "/api/v1/namespaces/ns/pods", {"watch": "true"}, ("watch", "", "pods", "ns", "")),
    ("GET", "/api/v1/watch/namespaces/ns/pods", {}, ("watch", "", "pods", "ns", "")),
    ("GET", "/api/v1/namespaces/ns/pods/p", {}, ("get", "", "pods", "ns", "p")),
    ("GET", "/api/v1/namespaces/ns/pods/p/log", {"follow": "true"}, ("get", "", "pods/log", "ns", "p")),
    ("PATCH", "/api/v1/namespaces/ns/pods/p/status", {}, ("patch", "", "pods/status", "ns", "p")),
    ("POST", "/api/v1/namespaces/ns/events", {}, ("create", "", "events", "ns", "")),
    ("PUT", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", {},
     ("update", "coordination.k8s.io", "leases", "ns", "l")),
    ("DELETE", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", {},
     ("delete", "coordination.k8s.io", "leases", "ns", "l")),
    ("DELETE", "/api/v1/namespaces/ns/pods", {}, ("deletecollection", "", "pods", "ns", "")),
    ("GET", "/apis/cvmfs.cern.ch/v1alpha1/transactions", {"watch": "1"},
     ("watch", "cvmfs.cern.ch", "transactions", "", "")),
    ("PATCH", "/apis/cvmfs.cern.ch/v1alpha1/repositories/r/status", {},
     ("patch", "cvmfs.cern.ch", "repositories/status", "", "r")),
    ("GET", "/api/v1/namespaces/ns", {}, ("get", "", "namespaces", "", "ns")),
    ("PUT", "/api/v1/namespaces/ns/finalize", {}, ("update", "", "namespaces/finalize", "", "ns")),
    ("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {},
     ("list", "apiextensions.k8s.io", "customresourcedefinitions", "", "")),
]


@pytest.mark.parametrize(("method", "path", "query", "expected"), CASES)
def test_verb_and_resource_as_the_authorizer_derives_them(
        method: str, path: str, query: dict[str, str], expected: tuple[str, str, str, str, str]) -> None:
    info = request_info(method, path, query)
    assert (info.verb, info.group, info.full_resource, info.namespace, info.name) == expected


@pytest.mark.parametrize("path", ["/api", "/apis", "/api/v1", "/apis/cvmfs.cern.ch/v1alpha1", "/version"])
def test_discovery_is_a_non_resource_request(path: str) -> None:
    info = request_info("GET", path, {})
    assert not info.is_resource
    assert info.verb == "get"


RULE = {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]}


@pytest.mark.parametrize(("ask", "allowed"), [
    (rbac.Ask("get", "", "pods", "ns", "p"), True),
    (rbac.Ask("get", "", "pods/log", "ns", "p"), True),
    (rbac.Ask("get", "", "pods/status", "ns", "p"), False),  # a subresource is granted by name only
    (rbac.Ask("watch", "", "pods", "ns"), False),
    (rbac.Ask("get", "apps", "pods", "ns", "p"), False),
])
def test_rule_matching(ask: rbac.Ask, allowed: bool) -> None:
    assert rbac.rule_allows(RULE, ask) is allowed


def test_wildcards_and_resource_names() -> None:
    assert rbac.rule_allows({"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["*"]},
                            rbac.Ask("patch", "x.io", "things/status", "", "t"))
    named = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"], "resourceNames": ["s"]}
    assert rbac.rule_allows(named, rbac.Ask("get", "", "secrets", "ns", "s"))
    assert not rbac.rule_allows(named, rbac.Ask("get", "", "secrets", "ns", "other"))
    assert not rbac.rule_allows(named, rbac.Ask("list", "", "secrets", "ns"))  # a list names nothing


def test_a_role_grants_only_in_its_namespace_and_a_cluster_role_everywhere() -> None:
    subject = [{"kind": "ServiceAccount", "name": "op", "namespace": "sys"}]
    objects = [
        {"kind": "Role", "metadata": {"name": "r", "namespace": "sys"}, "rules": [RULE]},
        {"kind": "RoleBinding", "metadata": {"name": "rb", "namespace": "sys"},
         "roleRef": {"kind": "Role", "name": "r"}, "subjects": subject},
        {"kind": "ClusterRole", "metadata": {"name": "c"},
         "rules": [{"apiGroups": ["x.io"], "resources": ["things"], "verbs": ["list"]}]},
        {"kind": "ClusterRoleBinding", "metadata": {"name": "crb"},
         "roleRef": {"kind": "ClusterRole", "name": "c"}, "subjects": subject},
    ]
    grants = list(rbac.grants_for(objects, "op", "sys"))
    assert rbac.allowed(grants, rbac.Ask("list", "", "pods", "sys"))
    assert not rbac.allowed(grants, rbac.Ask("list", "", "pods", "other"))
    assert not rbac.allowed(grants, rbac.Ask("list", "", "pods", ""))  # all namespaces: not by a Role
    assert rbac.allowed(grants, rbac.Ask("list", "x.io", "things", ""))
    assert rbac.allowed(grants, rbac.Ask("list", "x.io", "things", "any"))
    assert not list(rbac.grants_for(objects, "someone-else", "sys"))
