"""Every x-kubernetes-validations rule of the RepositoryOperation CRD, evaluated with cel-python, and
its OpenAPI schema, on the examples and on good and bad objects.

Each case names exactly which rules refuse it, at which value path; the coverage test fails when a
rule is not exercised by at least one passing and one refusing case.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from cvmfs_operator.api import inert
from tests.unit.crds import cel
from tests.unit.crds.schema_tools import DELETE, EXAMPLE_FILES, changed, example, load_yaml, schema_errors
from tests.unit.crds.test_cel_rules import HOSTILE_DESCRIPTIONS, SAFE_DESCRIPTIONS

OP = "RepositoryOperation"
ROLLBACK = example("operation-rollback.yaml")
TAG = example("operation-tag.yaml")
RESIGN = example("operation-resign.yaml")
GC = example("operation-gc.yaml")
CHECK = example("operation-check.yaml")
OPERATION_EXAMPLES = {"rollback": ROLLBACK, "tag": TAG, "resign": RESIGN, "gc": GC, "check": CHECK}


def msg(path: str, words: str) -> str:
    (found,) = [r.message for r in cel.rules(OP) if r.path == path and words in r.message]
    return found


IMMUTABLE = msg("spec", "immutable")
ONE_OPERATION = msg("spec", "exactly one")
ROLLBACK_UNDO = msg("spec.rollback.tag", "trunk")
UNDO_TAG = msg("spec.tag", "trunk or trunk-previous")
ADD_NAME = msg("spec.tag", "1-63")
GENERIC = msg("spec.tag", "generic-")
REMOVE_ONLY_NAME = msg("spec.tag", "apply only to add and move")
DESC = "spec.tag.description"
DESC_CHARS = msg(DESC, "may contain only")
DESC_BLANK = msg(DESC, "non-space")
DESC_OPTION = msg(DESC, "start with")
KEEP_EXCLUSIVE = msg("spec.gc", "exclusive")
AUTO_TAG = "generic-2026-11-22T02:23:13.123Z"  # cvmfs_server publish's automatic tag name


@dataclass(frozen=True)
class Case:
    id: str
    obj: dict[str, Any]
    refused: frozenset[tuple[str, str]]
    old: dict[str, Any] | None = None


def op(id: str, base: dict[str, Any], changes: dict[str, Any], *refused: tuple[str, str],
       old: dict[str, Any] | None = None) -> Case:
    return Case(id, changed(base, changes), frozenset(refused), old)


def tag(id: str, action: str, name: str, *refused: tuple[str, str], **extra: Any) -> Case:
    return op(id, TAG, {"spec.tag": {"action": action, "name": name, **extra}}, *refused)


CASES = [
    *[op(f"{kind} example", obj, {}) for kind, obj in OPERATION_EXAMPLES.items()],
    op("no operation", ROLLBACK, {"spec.rollback": DELETE}, ("spec", ONE_OPERATION)),
    op("two operations", ROLLBACK, {"spec.check": {}}, ("spec", ONE_OPERATION)),
    op("every operation", ROLLBACK, {"spec.tag": TAG["spec"]["tag"], "spec.resign": {}, "spec.gc": {},
                                     "spec.check": {}}, ("spec", ONE_OPERATION)),
    op("resign defaulted", RESIGN, {"spec.resign": {}}),
    op("gc defaulted", GC, {"spec.gc": {}}),
    op("check defaulted", CHECK, {"spec.check": {}}),
    op("rollback to an automatic tag", ROLLBACK, {"spec.rollback.tag": AUTO_TAG}),
    op("rollback to trunk", ROLLBACK, {"spec.rollback.tag": "trunk"},
       ("spec.rollback.tag", ROLLBACK_UNDO)),
    op("rollback to trunk-previous", ROLLBACK, {"spec.rollback.tag": "trunk-previous"},
       ("spec.rollback.tag", ROLLBACK_UNDO)),
    tag("add with a revision", "add", "v1", revision=3),
    tag("move to a revision", "move", "stable", revision=12, description="moved to 12"),
    tag("move to the current revision", "move", "stable"),
    tag("remove", "remove", "stable"),
    tag("remove an automatic tag", "remove", AUTO_TAG),
    tag("add of 63 characters", "add", "a" * 63),
    tag("add of 64 characters", "add", "a" * 64, ("spec.tag", ADD_NAME)),
    tag("remove of 64 characters", "remove", "a" * 64),
    tag("add with a colon", "add", "v1:2", ("spec.tag", ADD_NAME)),
    tag("add generic", "add", "generic-1", ("spec.tag", GENERIC)),
    tag("move an automatic tag", "move", AUTO_TAG, ("spec.tag", ADD_NAME), ("spec.tag", GENERIC)),
    tag("add generic without dash", "add", "generic"),
    *[tag(f"{action} {name}", action, name, ("spec.tag", UNDO_TAG))
      for action in ("add", "move", "remove") for name in ("trunk", "trunk-previous")],
    tag("add trunk2", "add", "trunk2"),
    tag("remove with a revision", "remove", "v1", ("spec.tag", REMOVE_ONLY_NAME), revision=3),
    tag("remove with a description", "remove", "v1", ("spec.tag", REMOVE_ONLY_NAME), description="x"),
    *[op(f"description {d!r}", TAG, {DESC: d}) for d in SAFE_DESCRIPTIONS],
    *[op(f"description {d!r}", TAG, {DESC: d}, *((DESC, m) for m in refused))
      for d, refused in HOSTILE_DESCRIPTIONS.items()],
    op("gc keeping a time", GC, {"spec.gc": {"keepSince": "2026-11-01T00:00:00Z"}}),
    op("gc keeping revisions and a time", GC, {"spec.gc.keepSince": "2026-11-01T00:00:00Z"},
       ("spec.gc", KEEP_EXCLUSIVE)),
    op("check a revision's catalogs only", CHECK, {"spec.check": {"chunks": False}}),
    op("update: labels and status only", ROLLBACK,
       {"metadata.labels": {"a": "b"}, "status": {"phase": "Running", "operation": "rollback"}},
       old=ROLLBACK),
    op("update: a default spelled out", GC, {"spec.timeoutSeconds": 3600}, old=GC),
    op("update: tag changed", ROLLBACK, {"spec.rollback.tag": "release-1.1.0"}, ("spec", IMMUTABLE),
       old=ROLLBACK),
    op("update: operation replaced", ROLLBACK, {"spec.rollback": DELETE, "spec.check": {}},
       ("spec", IMMUTABLE), old=ROLLBACK),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rules(case: Case) -> None:
    assert schema_errors(OP, case.obj) == set()
    assert cel.violations(OP, case.obj, case.old) == case.refused


def test_every_rule_is_exercised_by_a_passing_and_a_refusing_case() -> None:
    seen: dict[cel.Rule, set[bool]] = defaultdict(set)
    for case in CASES:
        for outcome in cel.evaluate(OP, case.obj, case.old):
            seen[outcome.rule].add(outcome.passed)
    missing = [(rule.path, rule.message, sorted(seen[rule])) for rule in cel.rules(OP)
               if seen[rule] != {True, False}]
    assert missing == []


@pytest.mark.parametrize("text", [*SAFE_DESCRIPTIONS, *HOSTILE_DESCRIPTIONS])
def test_the_description_rules_are_the_transactions(text: str) -> None:
    admitted = not cel.violations(OP, changed(TAG, {DESC: text}))
    assert admitted == (inert.description_error(text) is None)


def test_one_example_per_operation_and_a_repository_to_create() -> None:
    kinds = {path.name: load_yaml(path)["kind"] for path in EXAMPLE_FILES}
    operations = {name for name, kind in kinds.items() if kind == OP}
    assert operations == {f"operation-{k}.yaml" for k in OPERATION_EXAMPLES}
    for kind, obj in OPERATION_EXAMPLES.items():
        assert [k for k in OPERATION_EXAMPLES if k in obj["spec"]] == [kind]
    created = example("repository-create.yaml")
    assert "create" in created["spec"]
    assert "masterKeySecretRef" in created["spec"]
    repositories = {load_yaml(p)["metadata"]["name"]: load_yaml(p) for p in EXAMPLE_FILES
                    if load_yaml(p)["kind"] == "Repository"}
    for obj in OPERATION_EXAMPLES.values():  # every operation names an example Repository it may use
        repo = repositories[obj["spec"]["repository"]]
        assert obj["metadata"]["namespace"] in repo["spec"]["allowedNamespaces"]
    assert repositories[GC["spec"]["repository"]]["spec"]["settings"]["garbageCollection"] is True
    assert "masterKeySecretRef" in repositories[RESIGN["spec"]["repository"]]["spec"]


BAD_SCHEMA: list[tuple[str, dict[str, Any], dict[str, Any], set[tuple[str, str]]]] = [
    ("no repository", ROLLBACK, {"spec.repository": DELETE}, {("spec", "required")}),
    ("repository with a slash", ROLLBACK, {"spec.repository": "a/b"}, {("spec.repository", "pattern")}),
    ("rollback without a tag", ROLLBACK, {"spec.rollback": {}}, {("spec.rollback", "required")}),
    ("rollback to a tag with a space", ROLLBACK, {"spec.rollback.tag": "a b"},
     {("spec.rollback.tag", "pattern")}),
    ("tag without an action", TAG, {"spec.tag.action": DELETE}, {("spec.tag", "required")}),
    ("tag renamed", TAG, {"spec.tag.action": "rename"}, {("spec.tag.action", "enum")}),
    ("tag with a shell name", TAG, {"spec.tag.name": "$(id)"}, {("spec.tag.name", "pattern")}),
    ("tag revision 0", TAG, {"spec.tag.revision": 0}, {("spec.tag.revision", "minimum")}),
    ("whitelist of 31 days (resign asks beyond 30)", RESIGN, {"spec.resign.whitelistDays": 31},
     {("spec.resign.whitelistDays", "maximum")}),
    ("gc keeping no revision", GC, {"spec.gc.keepRevisions": 0}, {("spec.gc.keepRevisions", "minimum")}),
    ("gc unknown field", GC, {"spec.gc.all": True}, {("spec.gc", "additionalProperties")}),
    ("check integrity (local storage only)", CHECK, {"spec.check.integrity": True},
     {("spec.check", "additionalProperties")}),
    ("timeout of two days", CHECK, {"spec.timeoutSeconds": 172800}, {("spec.timeoutSeconds", "maximum")}),
]


@pytest.mark.parametrize(("base", "changes", "expected"), [c[1:] for c in BAD_SCHEMA],
                         ids=[c[0] for c in BAD_SCHEMA])
def test_bad_object_is_refused_by_the_schema(base: dict[str, Any], changes: dict[str, Any],
                                              expected: set[tuple[str, str]]) -> None:
    assert schema_errors(OP, changed(base, changes)) == expected
