"""The CRDs as Kubernetes objects: valid CustomResourceDefinitions, structural schemas, printer
columns that point at real fields, and field names that match the Python types in api/types.py."""

from __future__ import annotations

import copy
import re
import typing
from typing import Any, NotRequired, Required

import kubernetes_validate
import pytest

from cvmfs_operator.api import types
from tests.unit.crds import structural
from tests.unit.crds.schema_tools import Schema, crd, version_schema

KINDS = ("Repository", "Transaction", "RepositoryOperation")
# The oldest Kubernetes we support (CEL validation rules and transition rules are GA since 1.29;
# 1.30 is the oldest release still maintained upstream) and the newest that kubernetes_validate knows.
OLDEST = "1.30.0"
VERSIONS = sorted({OLDEST, kubernetes_validate.latest_version()})


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_crd_is_a_valid_kubernetes_object(kind: str, version: str) -> None:
    kubernetes_validate.validate(crd(kind), version, strict=True)


def test_kubernetes_validate_refuses_a_misspelled_schema_keyword() -> None:
    broken = crd("Transaction")
    schema = broken["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["x-kubernetes-validation"] = schema["properties"]["spec"].pop(
        "x-kubernetes-validations"
    )
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize(
    ("kind", "scope", "plural", "short_names"),
    [
        ("Repository", "Cluster", "repositories", ["cvmfsrepo"]),
        ("Transaction", "Namespaced", "transactions", ["cvmfstxn", "txn"]),
        ("RepositoryOperation", "Namespaced", "repositoryoperations", ["repoop"]),
    ],
)
def test_crd_identity(kind: str, scope: str, plural: str, short_names: list[str]) -> None:
    obj = crd(kind)
    assert obj["metadata"]["name"] == f"{plural}.{types.GROUP}"
    assert obj["spec"]["group"] == types.GROUP
    assert obj["spec"]["scope"] == scope
    names = obj["spec"]["names"]
    assert (names["kind"], names["plural"], names["shortNames"]) == (kind, plural, short_names)
    assert plural in (types.REPOSITORY_PLURAL, types.TRANSACTION_PLURAL, types.OPERATION_PLURAL)
    (version,) = obj["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == (types.VERSION, True, True)
    assert version["subresources"] == {"status": {}}


def _resolve(schema: Schema, json_path: str) -> Schema | None:
    """The schema node a printer column's JSONPath selects (filters select list items)."""
    node = schema
    steps = re.sub(r"\[\?\(.*?\)\]", ".[*]", json_path).strip(".").split(".")
    for step in steps:
        if step == "[*]":
            node = node.get("items", {})
        elif step in node.get("properties", {}):
            node = node["properties"][step]
        else:
            return None
    return node


COLUMN_TYPES = {
    "integer": "integer",
    "string": "string",
    "date": "string",
    "number": "number",
    "boolean": "boolean",
}


@pytest.mark.parametrize("kind", KINDS)
def test_printer_columns_select_existing_fields_of_their_type(kind: str) -> None:
    (version,) = crd(kind)["spec"]["versions"]
    schema = version_schema(kind)
    columns = version["additionalPrinterColumns"]
    for column in columns:
        if column["jsonPath"] == ".metadata.creationTimestamp":
            continue
        node = _resolve(schema, column["jsonPath"])
        assert node is not None, f"{column['name']}: {column['jsonPath']} selects no field"
        assert node.get("type") == COLUMN_TYPES[column["type"]], column["name"]
        if column["type"] == "date":
            assert node.get("format") == "date-time", column["name"]
    assert columns[-1]["name"] == "Age"


def test_transaction_columns() -> None:
    (version,) = crd("Transaction")["spec"]["versions"]
    shown = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"] if not c.get("priority")}
    assert shown == {
        "Repository": ".spec.repository",
        "Phase": ".status.phase",
        "Revision": ".status.revisionAfter",
        "Duration": ".status.duration",
        "Age": ".metadata.creationTimestamp",
    }


def test_repository_operation_columns() -> None:
    (version,) = crd("RepositoryOperation")["spec"]["versions"]
    shown = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"] if not c.get("priority")}
    assert shown == {
        "Repository": ".spec.repository",
        "Operation": ".status.operation",
        "Phase": ".status.phase",
        "Reason": ".status.reason",
        "Duration": ".status.duration",
        "Age": ".metadata.creationTimestamp",
    }


def test_repository_columns() -> None:
    (version,) = crd("Repository")["spec"]["versions"]
    shown = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"] if not c.get("priority")}
    assert shown == {
        "Revision": ".status.revision",
        "Ready": '.status.conditions[?(@.type=="Ready")].status',
        "Queue": ".status.queueLength",
        "Age": ".metadata.creationTimestamp",
    }


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_structural_bounded_and_documented(kind: str) -> None:
    assert structural.problems(version_schema(kind)) == []


def _break(mutate: typing.Callable[[Schema], None]) -> Schema:
    schema = copy.deepcopy(version_schema("Transaction"))
    mutate(schema)
    return schema


def _spec(schema: Schema) -> Schema:
    node: Schema = schema["properties"]["spec"]
    return node


def _props(schema: Schema) -> Schema:
    node: Schema = _spec(schema)["properties"]
    return node


BROKEN: list[tuple[str, typing.Callable[[Schema], None], str]] = [
    ("no type", lambda s: _props(s)["tag"].pop("type"), "spec.tag: missing or unknown type None"),
    (
        "properties and additionalProperties",
        lambda s: _props(s)["tag"].update(additionalProperties={"type": "string"}),
        "spec.tag: additionalProperties beside properties",
    ),
    (
        "preserve unknown fields",
        lambda s: _props(s)["payload"].update({"x-kubernetes-preserve-unknown-fields": True}),
        "spec.payload: x-kubernetes-preserve-unknown-fields is not allowed here",
    ),
    (
        "unbounded string",
        lambda s: _props(s)["repository"].pop("maxLength"),
        "spec.repository: string without maxLength",
    ),
    (
        "unbounded list",
        lambda s: _props(s)["payload"]["properties"]["remove"]["properties"]["paths"].pop("maxItems"),
        "spec.payload.remove.paths: array without maxItems",
    ),
    (
        "no description",
        lambda s: _props(s)["backoffLimit"].pop("description"),
        "spec.backoffLimit: missing description",
    ),
    (
        "invalid default",
        lambda s: _props(s)["timeoutSeconds"].update(default=0),
        "spec.timeoutSeconds: default 0 is invalid",
    ),
    (
        "junctor",
        lambda s: _props(s)["path"].update(anyOf=[{"pattern": "^/"}]),
        "spec.path: anyOf is only allowed for int-or-string",
    ),
    (
        "uniqueItems",
        lambda s: _props(s)["payload"]["properties"]["remove"]["properties"]["paths"].update(
            uniqueItems=True
        ),
        "spec.payload.remove.paths: uniqueItems is refused",
    ),
    (
        "transition rule in a list",
        lambda s: _props(s)["payload"]["properties"]["remove"]["properties"]["paths"]["items"][
            "x-kubernetes-validations"
        ].append({"rule": "self == oldSelf", "message": "immutable"}),
        "spec.payload.remove.paths[*]: transition rule below a list",
    ),
    (
        "metadata restricted",
        lambda s: s["properties"]["metadata"].update(properties={"labels": {"type": "object"}}),
        "metadata: only 'type: object'",
    ),
    (
        "enum of wrong type",
        lambda s: _props(s)["backoffLimit"].update(enum=["2"]),
        "spec.backoffLimit: enum value '2' is not a integer",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "expected"), [(m, e) for _, m, e in BROKEN], ids=[i for i, _, _ in BROKEN]
)
def test_structural_checker_finds(mutate: typing.Callable[[Schema], None], expected: str) -> None:
    found = structural.problems(_break(mutate))
    assert [p for p in found if p.startswith(expected)], found


# api/types.py TypedDicts and the schema node each one describes.
TYPED: list[tuple[Any, str, str]] = [
    (types.RepositorySpec, "Repository", "spec"),
    (types.Stratum0Spec, "Repository", "spec.stratum0"),
    (types.S3Spec, "Repository", "spec.stratum0.s3"),
    (types.SecretRef, "Repository", "spec.stratum0.s3.credentialsSecretRef"),
    (types.GatewaySpec, "Repository", "spec.stratum0.gateway"),
    (types.SecretRef, "Repository", "spec.keysSecretRef"),
    (types.SecretRef, "Repository", "spec.masterKeySecretRef"),
    (types.CreateSpec, "Repository", "spec.create"),
    (types.MaintenanceSpec, "Repository", "spec.maintenance"),
    (types.ResignSchedule, "Repository", "spec.maintenance.resign"),
    (types.GCSchedule, "Repository", "spec.maintenance.gc"),
    (types.CheckSchedule, "Repository", "spec.maintenance.check"),
    (types.MaintenanceRecord, "Repository", "status.lastResign"),
    (types.MaintenanceRecord, "Repository", "status.lastGC"),
    (types.MaintenanceRecord, "Repository", "status.lastCheck"),
    (types.RepositorySettings, "Repository", "spec.settings"),
    (types.PublisherSpec, "Repository", "spec.publisher"),
    (types.StagingSpec, "Repository", "spec.staging"),
    (types.StagingS3Spec, "Repository", "spec.staging.s3"),
    (types.Toleration, "Repository", "spec.publisher.tolerations[*]"),
    (types.RepositoryStatus, "Repository", "status"),
    (types.TransactionRef, "Repository", "status.activeTransaction"),
    (types.Condition, "Repository", "status.conditions[*]"),
    (types.TransactionSpec, "Transaction", "spec"),
    (types.Payload, "Transaction", "spec.payload"),
    (types.TarballPayload, "Transaction", "spec.payload.tarball"),
    (types.StagePayload, "Transaction", "spec.payload.stage"),
    (types.RemovePayload, "Transaction", "spec.payload.remove"),
    (types.ScriptPayload, "Transaction", "spec.payload.script"),
    (types.TagSpec, "Transaction", "spec.tag"),
    (types.TransactionStatus, "Transaction", "status"),
    (types.Condition, "Transaction", "status.conditions[*]"),
    (types.AttemptFailure, "Transaction", "status.lastFailure"),
    (types.RepositoryOperationSpec, "RepositoryOperation", "spec"),
    (types.RollbackOperation, "RepositoryOperation", "spec.rollback"),
    (types.TagOperation, "RepositoryOperation", "spec.tag"),
    (types.ResignOperation, "RepositoryOperation", "spec.resign"),
    (types.GCOperation, "RepositoryOperation", "spec.gc"),
    (types.CheckOperation, "RepositoryOperation", "spec.check"),
    (types.RepositoryOperationStatus, "RepositoryOperation", "status"),
    (types.GCResult, "RepositoryOperation", "status.gc"),
    (types.CheckResult, "RepositoryOperation", "status.check"),
    (types.Condition, "RepositoryOperation", "status.conditions[*]"),
    (types.AttemptFailure, "RepositoryOperation", "status.lastFailure"),
]
# Schema fields with no Python counterpart on purpose.
SCHEMA_ONLY = {
    ("Repository", "status"): {"kopf"},
    ("Transaction", "status"): {"kopf"},
    ("RepositoryOperation", "status"): {"kopf"},
}


def _node(kind: str, path: str) -> Schema:
    node = version_schema(kind)
    for step in path.replace("[*]", ".[*]").split("."):
        node = node["items"] if step == "[*]" else node["properties"][step]
    return node


def _required(typed: Any) -> set[str]:
    hints = typing.get_type_hints(typed, include_extras=True)
    total = typed.__total__
    return {
        name
        for name, hint in hints.items()
        if typing.get_origin(hint) is Required or (total and typing.get_origin(hint) is not NotRequired)
    }


@pytest.mark.parametrize(("typed", "kind", "path"), TYPED, ids=[f"{k}.{p}" for _, k, p in TYPED])
def test_python_types_match_the_schema(typed: Any, kind: str, path: str) -> None:
    node = _node(kind, path)
    fields = set(typing.get_type_hints(typed))
    assert set(node["properties"]) - SCHEMA_ONLY.get((kind, path), set()) == fields
    assert set(node.get("required", [])) == _required(typed)
