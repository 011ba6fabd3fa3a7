"""Our own check that a CRD schema is structural and follows the project's conventions.

Kubernetes' rules for structural schemas (apiextensions "Specifying a structural schema") plus the
conventions that keep the CEL rules within the API server's cost budget and the API documented.
Each problem is one line naming the schema path, so a failing test says where to look.
"""

from __future__ import annotations

from typing import Any

from tests.unit.crds.schema_tools import KubeValidator, Schema, apply_defaults, to_json_schema, walk

TYPES = {"object", "array", "string", "integer", "number", "boolean"}
JUNCTORS = ("anyOf", "allOf", "oneOf", "not")
# Only kopf's own progress record may keep unknown fields.
PRESERVE_UNKNOWN_ALLOWED = {"status.kopf"}
# Where the API server's CEL cost estimate needs bounds: everything the rules can reach.
BOUNDED_SUBTREES = ("spec",)
INT_OR_STRING_MEMBERS = [{"type": "integer"}, {"type": "string"}]


def _type_problems(path: str, node: Schema) -> list[str]:
    if node.get("x-kubernetes-int-or-string"):
        problems = [f"{path}: int-or-string node must not have a type"] if "type" in node else []
        if node.get("anyOf", INT_OR_STRING_MEMBERS) != INT_OR_STRING_MEMBERS:
            problems.append(f"{path}: int-or-string anyOf must be exactly [integer, string]")
        return problems
    if node.get("type") not in TYPES:
        return [f"{path or '<root>'}: missing or unknown type {node.get('type')!r}"]
    return [f"{path}: {j} is only allowed for int-or-string" for j in JUNCTORS if j in node]


def _shape_problems(path: str, node: Schema) -> list[str]:
    problems = []
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: additionalProperties beside properties")
    if "additionalProperties" in node and not isinstance(node["additionalProperties"], dict):
        problems.append(f"{path}: additionalProperties must be a schema")
    if node.get("type") == "array" and not isinstance(node.get("items"), dict):
        problems.append(f"{path}: an array needs one items schema")
    if node.get("type") != "object" and ("properties" in node or "additionalProperties" in node):
        problems.append(f"{path}: properties on a non-object")
    if node.get("x-kubernetes-preserve-unknown-fields") and path not in PRESERVE_UNKNOWN_ALLOWED:
        problems.append(f"{path}: x-kubernetes-preserve-unknown-fields is not allowed here")
    for name in node.get("required", []):
        if name not in node.get("properties", {}):
            problems.append(f"{path}: required field {name!r} is not a property")
    list_type = node.get("x-kubernetes-list-type")
    if list_type not in (None, "atomic", "set", "map"):
        problems.append(f"{path}: unknown x-kubernetes-list-type {list_type!r}")
    if list_type == "set" and node.get("items", {}).get("type") not in (
        "string",
        "integer",
        "number",
        "boolean",
    ):
        problems.append(f"{path}: a set needs scalar items")
    if list_type == "map":
        items = node.get("items", {})
        for key in node.get("x-kubernetes-list-map-keys", []):
            if key not in items.get("required", []) and "default" not in items.get("properties", {}).get(
                key, {}
            ):
                problems.append(f"{path}: list map key {key!r} must be required or defaulted")
    if "uniqueItems" in node:
        problems.append(f"{path}: uniqueItems is refused by the API server; use x-kubernetes-list-type")
    return problems


def _bound_problems(path: str, node: Schema) -> list[str]:
    if not path.startswith(BOUNDED_SUBTREES) or node.get("x-kubernetes-int-or-string"):
        return []
    kind = node.get("type")
    if kind == "string" and "maxLength" not in node and "enum" not in node:
        return [f"{path}: string without maxLength (CEL cost estimate)"]
    if kind == "array" and "maxItems" not in node:
        return [f"{path}: array without maxItems (CEL cost estimate)"]
    if kind == "object" and "additionalProperties" in node and "maxProperties" not in node:
        return [f"{path}: map without maxProperties (CEL cost estimate)"]
    return []


def _rule_problems(path: str, node: Schema, under_array: bool) -> list[str]:
    problems = []
    for entry in node.get("x-kubernetes-validations", []):
        rule, message = entry.get("rule", ""), entry.get("message", "")
        if not rule or not message or "\n" in message:
            problems.append(f"{path}: every rule needs a one-line message")
        if "oldSelf" in rule and under_array:
            problems.append(f"{path}: transition rule below a list is never correlated")
    return problems


def _value_problems(path: str, node: Schema) -> list[str]:
    problems = []
    kind = node.get("type")
    classes: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "integer": int,
        "boolean": bool,
        "number": (int, float),
    }
    python = classes.get(str(kind))
    if python is not None:
        for value in node.get("enum", []):
            if not isinstance(value, python) or (kind == "integer" and isinstance(value, bool)):
                problems.append(f"{path}: enum value {value!r} is not a {kind}")
    if "default" in node:
        checker = KubeValidator(to_json_schema(node))
        default = apply_defaults(node, node["default"])
        for error in checker.iter_errors(default):
            problems.append(f"{path}: default {node['default']!r} is invalid: {error.message}")
    return problems


def problems(schema: Schema) -> list[str]:
    """Every way ``schema`` (an ``openAPIV3Schema``) is not structural or breaks our conventions."""
    found: list[str] = []
    if schema.get("type") != "object":
        found.append("<root>: must be an object")
    metadata: Any = schema.get("properties", {}).get("metadata")
    if metadata is not None and metadata != {"type": "object"}:
        found.append("metadata: only 'type: object' is allowed at the root's metadata")
    for node in walk(schema):
        if node.path == "metadata":
            continue
        found += _type_problems(node.path, node.schema)
        found += _shape_problems(node.path, node.schema)
        found += _bound_problems(node.path, node.schema)
        found += _rule_problems(node.path, node.schema, node.under_array)
        found += _value_problems(node.path, node.schema)
        is_property = node.path and not node.path.endswith(("[*]", "{*}"))
        if (is_property or not node.path) and not str(node.schema.get("description", "")).strip():
            found.append(f"{node.path or '<root>'}: missing description")
    return found
