"""The chart's optional monitoring objects: PrometheusRule and the Grafana dashboard ConfigMap."""

from __future__ import annotations

import json
from collections.abc import Callable

import yaml

from tests.support.monitoring import DASHBOARD, RULES
from tests.unit.install.conftest import CUSTOM_NAMESPACE, CUSTOM_RELEASE, ROOT, Obj, kinds, only

CHART_DIR = ROOT / "charts" / "cvmfs-release-operator"


def test_off_by_default(default_objects: list[Obj]) -> None:
    assert "PrometheusRule" not in kinds(default_objects)
    assert "ConfigMap" not in kinds(default_objects)


def test_prometheus_rule_holds_the_tested_rules(custom_objects: list[Obj]) -> None:
    rule = only(custom_objects, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["name"] == f"{CUSTOM_RELEASE}-cvmfs-release-operator"
    assert rule["metadata"]["namespace"] == CUSTOM_NAMESPACE
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    assert rule["metadata"]["labels"]["app.kubernetes.io/name"] == "cvmfs-release-operator"
    # Exactly the file promtool tests, alert templates ({{ $labels.x }}) untouched by Helm.
    assert rule["spec"] == yaml.safe_load(RULES.read_text())
    assert "{{ $labels.repository }}" in json.dumps(rule["spec"])


def test_dashboard_config_map_for_the_grafana_sidecar(custom_objects: list[Obj]) -> None:
    config_map = only(custom_objects, "ConfigMap")
    assert config_map["metadata"]["name"] == f"{CUSTOM_RELEASE}-cvmfs-release-operator-dashboard"
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert config_map["metadata"]["labels"]["dashboards"] == "cvmfs"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "CVMFS"}
    assert list(config_map["data"]) == ["cvmfs-release-operator.json"]
    assert json.loads(config_map["data"]["cvmfs-release-operator.json"]) == json.loads(DASHBOARD.read_text())


def test_dashboard_defaults_carry_the_usual_sidecar_label(render: Callable[..., list[Obj]]) -> None:
    objects = render({"metrics": {"grafanaDashboard": {"enabled": True}}})
    config_map = only(objects, "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == "cvmfs-release-operator"
    assert "annotations" not in config_map["metadata"]


def test_no_alerts_or_dashboard_without_metrics(render: Callable[..., list[Obj]]) -> None:
    objects = render({"metrics": {"enabled": False, "prometheusRule": {"enabled": True},
                                  "grafanaDashboard": {"enabled": True}}})
    assert "PrometheusRule" not in kinds(objects)
    assert "ConfigMap" not in kinds(objects)


def test_test_files_are_not_packaged() -> None:
    ignored = (CHART_DIR / ".helmignore").read_text().split()
    assert {"rules_test.yaml", "health_test.yaml", "testdata/"} <= set(ignored)
