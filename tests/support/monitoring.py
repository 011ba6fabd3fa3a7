"""Where the SRE's kit lives in the chart, and which metric names it refers to."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "charts" / "cvmfs-release-operator" / "files"
RULES = FILES / "prometheus" / "rules.yaml"
RULES_TEST = FILES / "prometheus" / "rules_test.yaml"
DASHBOARD = FILES / "grafana" / "cvmfs-release-operator.json"
ARGOCD = FILES / "argocd" / "cvmfs.cern.ch"

_METRIC = re.compile(r"\b(cvmfs_operator_[a-z0-9_]+)")
_SELECTOR = re.compile(r"\b(cvmfs_operator_[a-z0-9_]+)\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


def rule_expressions() -> dict[str, str]:
    """Alert name -> PromQL expression, from the rules file."""
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_expressions() -> dict[str, str]:
    """``panel title [refId]`` -> PromQL expression, plus the template variables' queries."""
    found: dict[str, str] = {}
    for panel in dashboard()["panels"]:
        for target in panel.get("targets") or []:
            found[f"{panel['title']} [{target['refId']}]"] = target["expr"]
    for variable in dashboard()["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            found[f"${variable['name']}"] = query["query"]
    return found


def referenced(expressions: dict[str, str]) -> dict[str, set[str]]:
    """Metric name (as written: ``x_bucket``, ``x_total``...) -> label names matched on it."""
    names: dict[str, set[str]] = {}
    for expr in expressions.values():
        for name in _METRIC.findall(expr):
            names.setdefault(name, set())
        for name, matchers in _SELECTOR.findall(expr):
            names[name].update(_MATCHER.findall(matchers))
    return names
