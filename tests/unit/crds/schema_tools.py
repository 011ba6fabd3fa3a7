"""Read the CRDs and examples, walk their OpenAPI v3 schemas, apply defaults, and translate a schema
into plain JSON Schema so that ``jsonschema`` checks objects the way the API server would.

The API server's view of an ``openAPIV3Schema`` differs from JSON Schema in a few places; the
translation in :func:`to_json_schema` handles each of them:

* ``nullable: true`` -> the type (and enum) also admits ``null``;
* ``x-kubernetes-int-or-string`` -> ``anyOf: [integer, string]`` when not spelled out;
* ``x-kubernetes-list-type: set`` -> ``uniqueItems`` (CRDs may not say ``uniqueItems`` themselves);
* ``x-kubernetes-list-type: map`` -> the custom keyword ``x-unique-map-keys`` checked below;
* an object with ``properties`` and without ``x-kubernetes-preserve-unknown-fields`` -> unknown
  fields are refused (``additionalProperties: false``), as ``kubectl apply`` does with its default
  strict field validation (the server would otherwise prune them silently);
* ``x-kubernetes-validations`` are dropped here: ``cel.py`` evaluates them.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import yaml

ROOT = Path(__file__).resolve().parents[3]
CRD_DIR = ROOT / "crds"
EXAMPLES_DIR = ROOT / "examples"
CRD_FILES = {"Repository": CRD_DIR / "repository.yaml", "Transaction": CRD_DIR / "transaction.yaml",
             "RepositoryOperation": CRD_DIR / "repositoryoperation.yaml"}
EXAMPLE_FILES = sorted(EXAMPLES_DIR.glob("*.yaml"))

Schema = dict[str, Any]


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        data = yaml.safe_load(stream)
    assert isinstance(data, dict), f"{path} does not hold one mapping"
    return data


@functools.cache
def _crd(kind: str) -> dict[str, Any]:
    return load_yaml(CRD_FILES[kind])


def crd(kind: str) -> dict[str, Any]:
    """The CRD object (a fresh copy: callers may change it)."""
    return copy.deepcopy(_crd(kind))


def shared_schema(kind: str) -> Schema:
    """The ``openAPIV3Schema`` of the single served version, shared: never change it."""
    (version,) = _crd(kind)["spec"]["versions"]
    schema: Schema = version["schema"]["openAPIV3Schema"]
    return schema


def version_schema(kind: str) -> Schema:
    """The ``openAPIV3Schema`` of the single served version (a fresh copy)."""
    return copy.deepcopy(shared_schema(kind))


@dataclass(frozen=True)
class Node:
    """One schema node and where it is: ``spec.payload.remove.paths[*]``, ``spec.nodeSelector{*}``."""

    path: str
    schema: Schema
    under_array: bool  # somewhere below an array's items (not correlatable for transition rules)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def walk(schema: Schema, path: str = "", under_array: bool = False) -> Iterator[Node]:
    """Every schema node, depth first: root, properties, items and additionalProperties."""
    yield Node(path, schema, under_array)
    for name, child in schema.get("properties", {}).items():
        yield from walk(child, _join(path, name), under_array)
    items = schema.get("items")
    if isinstance(items, dict):
        yield from walk(items, f"{path}[*]", True)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from walk(extra, f"{path}{{*}}", under_array)


def apply_defaults(schema: Schema, value: Any) -> Any:
    """A copy of ``value`` with the schema's defaults filled in, as the API server does before it
    validates (and again whenever it reads the object from storage)."""
    value = copy.deepcopy(value)
    _default_into(schema, value)
    return value


def _default_into(schema: Schema, value: Any) -> None:
    if isinstance(value, dict):
        for name, child in schema.get("properties", {}).items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                _default_into(child, value[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name in value:
                if name not in schema.get("properties", {}):
                    _default_into(extra, value[name])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _default_into(schema["items"], item)


def to_json_schema(node: Schema) -> Schema:
    """Translate one OpenAPI v3 (Kubernetes structural) schema into JSON Schema 2020-12."""
    out: Schema = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: to_json_schema(child) for name, child in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = to_json_schema(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [to_json_schema(child) for child in value]
        elif key.startswith("x-kubernetes-") or key == "nullable":
            continue
        else:
            out[key] = copy.deepcopy(value)
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    list_type = node.get("x-kubernetes-list-type")
    if list_type == "set":
        out["uniqueItems"] = True
    elif list_type == "map":
        out["x-unique-map-keys"] = list(node["x-kubernetes-list-map-keys"])
    if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def _unique_map_keys(validator: Any, keys: list[str], instance: Any, schema: Schema) -> Iterator[Any]:
    if not isinstance(instance, list):
        return
    seen: set[tuple[Any, ...]] = set()
    for item in instance:
        if not isinstance(item, dict):
            continue
        key = tuple(item.get(k) for k in keys)
        if key in seen:
            yield jsonschema.ValidationError(f"duplicate entries for map key(s) {keys} = {key!r}")
        seen.add(key)


KubeValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"x-unique-map-keys": _unique_map_keys}
)


@functools.cache
def validator(kind: str) -> Any:
    schema = to_json_schema(shared_schema(kind))
    KubeValidator.check_schema(schema)
    return KubeValidator(schema)


def format_path(parts: Iterable[str | int]) -> str:
    """``spec.payload.remove.paths[2]``: names joined with dots, list indices in brackets."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def schema_errors(kind: str, obj: dict[str, Any]) -> set[tuple[str, str]]:
    """``{(value path, failing keyword)}`` for every error in ``obj`` (defaults applied first)."""
    defaulted = apply_defaults(shared_schema(kind), obj)
    return {
        (format_path(error.absolute_path), str(error.validator))
        for error in validator(kind).iter_errors(defaulted)
    }


def example(name: str) -> dict[str, Any]:
    return load_yaml(EXAMPLES_DIR / name)


DELETE: Any = object()  # marks a field to remove in :func:`changed`


def changed(obj: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` with ``{"dotted.path": value}`` set (missing mappings created) or deleted.

    Numeric path parts index lists: ``"spec.payload.remove.paths.0"``.
    """
    out = copy.deepcopy(obj)
    for dotted, value in changes.items():
        parts: list[Any] = [int(p) if p.isdigit() else p for p in dotted.split(".")]
        target: Any = out
        for part in parts[:-1]:
            if isinstance(part, str) and part not in target:
                target[part] = {}
            target = target[part]
        if value is DELETE:
            del target[parts[-1]]
        else:
            target[parts[-1]] = copy.deepcopy(value)
    return out
