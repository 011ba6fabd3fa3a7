"""Kubernetes RBAC authorization, as the API server's RBAC authorizer decides it, over rendered
chart objects: which (verb, group, resource, namespace, name) a service account may request.

Rules as in k8s.io/kubernetes/pkg/apis/rbac/v1 (``VerbMatches``, ``APIGroupMatches``,
``ResourceMatches``, ``ResourceNameMatches``): ``*`` matches everything, a subresource is granted
as ``resource/subresource`` (or ``*/subresource``), ``resourceNames`` restrict only requests that
name an object. A Role (or a ClusterRole bound by a RoleBinding) grants only in the binding's
namespace; a ClusterRole bound by a ClusterRoleBinding grants everywhere, cluster-scoped resources
included.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True)
class Ask:
    """One request, as the authorizer sees it (resource includes ``/subresource``)."""

    verb: str
    group: str
    resource: str
    namespace: str = ""  # "" for cluster-scoped resources and all-namespace lists/watches
    name: str = ""


@dataclass(frozen=True)
class Grant:
    """One rule that applies to the subject, with where it applies (None: cluster-wide)."""

    rule: Obj
    namespace: str | None
    source: str  # "Role/ns/name" or "ClusterRole/name", for messages


def _matches(values: Iterable[str], wanted: str) -> bool:
    return any(v == "*" or v == wanted for v in values)


def rule_allows(rule: Obj, ask: Ask) -> bool:
    if not _matches(rule.get("verbs", []), ask.verb):
        return False
    if not _matches(rule.get("apiGroups", []), ask.group):
        return False
    subresource = ask.resource.partition("/")[2]
    if not any(r == "*" or r == ask.resource or (subresource and r == f"*/{subresource}")
               for r in rule.get("resources", [])):
        return False
    names = rule.get("resourceNames") or []
    return not names or ask.name in names


def _subject_matches(subject: Obj, account: str, namespace: str) -> bool:
    return (subject.get("kind") == "ServiceAccount" and subject.get("name") == account
            and subject.get("namespace") == namespace)


def grants_for(objects: list[Obj], account: str, namespace: str) -> Iterator[Grant]:
    """Every rule bound to the service account ``namespace/account`` in the rendered objects."""
    roles = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
             for o in objects if o["kind"] in ("Role", "ClusterRole")}
    for binding in objects:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(_subject_matches(s, account, namespace) for s in binding.get("subjects", [])):
            continue
        ref = binding["roleRef"]
        where = binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        role_namespace = (where or "") if ref["kind"] == "Role" else ""
        role = roles.get((ref["kind"], role_namespace, ref["name"]))
        assert role is not None, f"{binding['kind']} {binding['metadata']['name']} names a missing {ref}"
        source = f"{ref['kind']}/{role_namespace + '/' if role_namespace else ''}{ref['name']}"
        for rule in role.get("rules", []):
            yield Grant(rule, where, source)


def allowed(grants: Iterable[Grant], ask: Ask) -> list[Grant]:
    """The grants that allow ``ask`` (empty: the API server answers 403)."""
    return [g for g in grants
            if (g.namespace is None or (ask.namespace and g.namespace == ask.namespace))
            and rule_allows(g.rule, ask)]


def triples(grants: Iterable[Grant]) -> set[tuple[str, str, str, str | None]]:
    """(verb, group, resource, namespace or None) of every granted combination (no wildcards)."""
    found = set()
    for g in grants:
        for verb in g.rule.get("verbs", []):
            for group in g.rule.get("apiGroups", []):
                for resource in g.rule.get("resources", []):
                    found.add((verb, group, resource, g.namespace))
    return found
