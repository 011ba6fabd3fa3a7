"""Evaluate a CRD's ``x-kubernetes-validations`` rules with cel-python, the way the API server does.

Every rule is found at its schema node and evaluated with ``self`` bound to the value at that node
(for each list item and map value below an array or map) and, for transition rules, ``oldSelf``
bound to the value at the same place in the old object. As in Kubernetes, a rule is skipped when
its field is absent, and a transition rule (one that mentions ``oldSelf``) runs only on update and
only where the old value exists. Defaults are applied to both objects first.

cel-python lacks the Kubernetes CEL libraries (``url()``, ``quantity()``, ``isURL()``, ...): the
CRDs use only standard CEL (``matches``, ``size``, ``startsWith``, ``endsWith``, ``contains``,
``has``, ``exists``, ``exists_one``), so every rule can be checked here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import celpy
from celpy.adapter import json_to_cel

from tests.unit.crds.schema_tools import Schema, apply_defaults, shared_schema, walk


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_OLD_SELF = re.compile(r"\boldSelf\b")
_ENV = celpy.Environment()


@dataclass(frozen=True)
class Rule:
    kind: str
    path: str  # schema path of the node the rule sits on, e.g. "spec.payload.remove.paths[*]"
    rule: str
    message: str

    @property
    def transition(self) -> bool:
        return bool(_OLD_SELF.search(self.rule))


@dataclass(frozen=True)
class Outcome:
    rule: Rule
    at: str  # value path, e.g. "spec.payload.remove.paths[2]"
    passed: bool


def rules(kind: str) -> list[Rule]:
    """Every rule of the CRD, with the schema path it is attached to."""
    return [
        Rule(kind, node.path, entry["rule"], entry["message"])
        for node in walk(shared_schema(kind))
        for entry in node.schema.get("x-kubernetes-validations", [])
    ]


@functools.cache
def _program(rule: str) -> Any:
    return _ENV.program(_ENV.compile(rule))


def _run(rule: Rule, at: str, value: Any, old: Any) -> bool:
    activation = {"self": json_to_cel(value)}
    if rule.transition:
        activation["oldSelf"] = json_to_cel(old)
    result = _program(rule.rule).evaluate(activation)
    if not isinstance(result, celpy.celtypes.BoolType):
        raise AssertionError(f"{rule.kind} rule {rule.rule!r} at {at} did not give a bool: {result!r}")
    return bool(result)


_MISSING = object()


def _visit(kind: str, schema: Schema, where: str, at: str, value: Any, old: Any) -> Iterator[Outcome]:
    """Rules at schema path ``where`` for the value at value path ``at``, then the children's."""
    for entry in schema.get("x-kubernetes-validations", []):
        rule = Rule(kind, where, entry["rule"], entry["message"])
        if rule.transition and old is _MISSING:
            continue
        yield Outcome(rule, at, _run(rule, at, value, old))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name, child in props.items():
            if name in value:
                old_child = old.get(name, _MISSING) if isinstance(old, dict) else _MISSING
                yield from _visit(kind, child, _join(where, name), _join(at, name), value[name], old_child)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, item in value.items():
                if name not in props:
                    old_item = old.get(name, _MISSING) if isinstance(old, dict) else _MISSING
                    yield from _visit(kind, extra, f"{where}{{*}}", _join(at, name), item, old_item)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        # List items are not correlated with the old object here (our lists are atomic or sets
        # of scalars), so transition rules below arrays never run: structural checks forbid them.
        for index, item in enumerate(value):
            yield from _visit(kind, schema["items"], f"{where}[*]", f"{at}[{index}]", item, _MISSING)


def evaluate(kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[Outcome]:
    """Every rule evaluation for ``obj`` (an update from ``old`` when given)."""
    schema = shared_schema(kind)
    new = apply_defaults(schema, obj)
    previous: Any = _MISSING if old is None else apply_defaults(schema, old)
    return list(_visit(kind, schema, "", "", new, previous))


def violations(kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> set[tuple[str, str]]:
    """``{(value path, rule message)}`` of every rule that refuses ``obj``."""
    return {(o.at, o.rule.message) for o in evaluate(kind, obj, old) if not o.passed}
