"""The chart lints, renders with default and non-default values, and runs the operator safely."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import helm_python
import pytest
import yaml

from cvmfs_operator import settings
from tests.unit.install.conftest import (
    CUSTOM_NAMESPACE,
    CUSTOM_RELEASE,
    CUSTOM_VALUES,
    ROOT,
    Obj,
    kinds,
    only,
)

CHART_DIR = ROOT / "charts" / "cvmfs-release-operator"
CHART_META = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
WARNING = 2  # helm lint severities: 1 info, 2 warning, 3 error


def container(objects: list[Obj]) -> Obj:
    containers = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["operator"]
    result: Obj = containers[0]
    return result


def env_of(objects: list[Obj]) -> dict[str, str]:
    """The container's environment as the kubelet would give it to the process."""
    deployment = only(objects, "Deployment")
    env: dict[str, str] = {}
    for var in container(objects)["env"]:
        if "value" in var:
            assert isinstance(var["value"], str), f"{var['name']} must be a string"
            env[var["name"]] = var["value"]
        else:
            assert var["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}, var
            env[var["name"]] = deployment["metadata"]["namespace"]
    return env


def port_named(objects: list[Obj], name: str) -> int:
    ports: dict[str, int] = {p["name"]: p["containerPort"] for p in container(objects).get("ports", [])}
    return ports[name]


# --- lint and values schema --------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, CUSTOM_VALUES], ids=["default", "custom"])
def test_helm_lint_strict_has_no_warnings_or_errors(values: dict[str, Any] | None) -> None:
    result = helm_python.lint(CHART_DIR, values, strict=True, namespace="cvmfs-release-operator")
    problems = [m for m in result["messages"] if m["severity"] >= WARNING]
    assert problems == [], result
    assert result["errors"] == [], result


def test_helm_lint_reports_bad_values() -> None:
    result = helm_python.lint(CHART_DIR, {"logFormat": "yaml"}, strict=True)
    assert any("logFormat" in error for error in result["errors"]), result


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"logFormat": "yaml"}, "/logFormat"),
        ({"replicas": -1}, "/replicas"),
        ({"replicas": 1.5}, "/replicas"),
        ({"replicas": "2"}, "/replicas"),
        ({"reconcileInterval": 0}, "/reconcileInterval"),
        ({"metrics": {"port": 70000}}, "/metrics/port"),
        ({"replica": 2}, "replica"),  # a typo'd key is not silently ignored
        ({"metrics": {"prometheusRule": {"enabled": "yes"}}}, "/metrics/prometheusRule/enabled"),
        ({"metrics": {"prometheusRule": {"severity": "page"}}}, "severity"),
        ({"metrics": {"grafanaDashboard": {"namespace": "Not_A_Namespace"}}},
         "/metrics/grafanaDashboard/namespace"),
        ({"metrics": {"grafanaDashboard": {"labels": {"grafana_dashboard": 1}}}}, "grafana_dashboard"),
        ({"metrics": {"serviceMonitor": {"interval": "30 seconds"}}}, "/metrics/serviceMonitor/interval"),
    ],
)
def test_values_schema_rejects_bad_values(values: dict[str, Any], message: str) -> None:
    chart = helm_python.Chart.load(CHART_DIR)
    try:
        with pytest.raises(helm_python.HelmValuesError, match=message):
            chart.render(values, name="x", namespace="y")
    finally:
        chart.close()


def test_service_account_name_is_required_when_not_created(render: Callable[..., list[Obj]]) -> None:
    with pytest.raises(helm_python.HelmRenderError, match=r"serviceAccount\.name is required"):
        render({"serviceAccount": {"create": False}})


# --- what the chart renders --------------------------------------------------------------------------


def test_default_render_objects(default_objects: list[Obj]) -> None:
    assert kinds(default_objects) == [
        "ClusterRole", "ClusterRoleBinding", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount",
    ]
    for obj in default_objects:
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == "cvmfs-release-operator", obj["kind"]
        else:
            assert "namespace" not in obj["metadata"]


def test_default_environment_is_the_settings_defaults(default_objects: list[Obj]) -> None:
    """The chart's defaults and settings.py's defaults agree, and every variable is one settings reads."""
    env = env_of(default_objects)
    assert set(env) <= set(settings.ENV.values())
    assert settings.from_env(env) == settings.Settings(namespace="cvmfs-release-operator")


def test_custom_values_reach_the_operator_settings(custom_objects: list[Obj]) -> None:
    assert settings.from_env(env_of(custom_objects)) == settings.Settings(
        namespace=CUSTOM_NAMESPACE,
        publisher_image="registry.example.org/cvmfs/publisher:1.2.3",
        reconcile_interval=2.5,
        health_interval=300.0,
        health_max_interval=900.0,
        health_concurrency=4,
        api_qps=20.0,
        api_burst=40,
        whitelist_warning_days=14.0,
        metrics_port=9200,
        liveness_port=8081,
        log_format="json",
    )


def test_operator_namespace_comes_from_the_downward_api(default_objects: list[Obj]) -> None:
    [var] = [v for v in container(default_objects)["env"] if v["name"] == "CVMFS_OPERATOR_NAMESPACE"]
    assert var == {"name": "CVMFS_OPERATOR_NAMESPACE",
                   "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}


def test_default_image_is_the_app_version(default_objects: list[Obj]) -> None:
    main = container(default_objects)
    assert main["image"] == f"ghcr.io/cvmfs-contrib/cvmfs-release-operator:{CHART_META['appVersion']}"
    assert main["imagePullPolicy"] == "IfNotPresent"
    assert "command" not in main
    assert "args" not in main


def test_custom_image_and_scheduling(custom_objects: list[Obj]) -> None:
    deployment = only(custom_objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["metadata"]["name"] == f"{CUSTOM_RELEASE}-cvmfs-release-operator"
    assert deployment["spec"]["replicas"] == 2
    assert container(custom_objects)["image"] == "registry.example.org/cvmfs/operator:1.2.3"
    assert container(custom_objects)["imagePullPolicy"] == "Always"
    assert container(custom_objects)["resources"] == CUSTOM_VALUES["resources"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["nodeSelector"] == CUSTOM_VALUES["nodeSelector"]
    assert pod["tolerations"] == CUSTOM_VALUES["tolerations"]
    assert pod["affinity"] == CUSTOM_VALUES["affinity"]
    assert pod["serviceAccountName"] == "cvmfs-publisher-sa"
    assert pod["securityContext"]["runAsUser"] == 20000
    template_meta = deployment["spec"]["template"]["metadata"]
    assert template_meta["annotations"] == {"example.org/team": "cvmfs"}
    assert template_meta["labels"]["example.org/tier"] == "control"
    assert only(custom_objects, "ServiceAccount")["metadata"]["annotations"] == {
        "example.org/owner": "release-team"}


def test_selectors_match_the_pod_labels(default_objects: list[Obj], custom_objects: list[Obj]) -> None:
    for objects in (default_objects, custom_objects):
        deployment = only(objects, "Deployment")
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector
        assert selector.items() <= labels.items()
        assert only(objects, "Service")["spec"]["selector"] == selector


@pytest.mark.parametrize("replicas", [0, 1, 2, 3])
def test_replicas_run_side_by_side_but_a_rollout_never_mixes_versions(
        render: Callable[..., list[Obj]], replicas: int) -> None:
    """``replicas: 2`` runs two operators at once, each acting on every Transaction: safe by the
    per-repository Leases and per-attempt pod names (tests/integration/operator/test_two_replicas.py,
    docs/operations.md); no leader election, no peering. A rollout still replaces all of them."""
    objects = render({"replicas": replicas})
    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == replicas
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert env_of(objects) == env_of(render())  # the same settings whatever the count


def test_one_operator_at_a_time_across_rollouts(default_objects: list[Obj]) -> None:
    deployment = only(default_objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


# --- security ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["default", "custom"])
def test_operator_runs_as_non_root_with_read_only_root(
    which: str, default_objects: list[Obj], custom_objects: list[Obj],
) -> None:
    objects = default_objects if which == "default" else custom_objects
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    security = container(objects)["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security.get("privileged", False) is False
    assert "hostNetwork" not in pod
    assert "hostPID" not in pod
    # Nothing writable but a bounded scratch /tmp.
    assert container(objects)["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]


def test_only_the_operator_pod_mounts_a_token(default_objects: list[Obj]) -> None:
    pod = only(default_objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True
    assert only(default_objects, "ServiceAccount")["automountServiceAccountToken"] is False


# --- probes and metrics ------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["default", "custom"])
def test_liveness_probe_hits_the_operator_healthz_port(
    which: str, default_objects: list[Obj], custom_objects: list[Obj],
) -> None:
    objects = default_objects if which == "default" else custom_objects
    probe = container(objects)["livenessProbe"]
    assert probe["httpGet"]["path"] == "/healthz"
    port = port_named(objects, probe["httpGet"]["port"])
    assert port == int(env_of(objects)["CVMFS_OPERATOR_LIVENESS_PORT"])
    assert port == (8080 if which == "default" else 8081)


@pytest.mark.parametrize("which", ["default", "custom"])
def test_metrics_service_reaches_the_metrics_port(
    which: str, default_objects: list[Obj], custom_objects: list[Obj],
) -> None:
    objects = default_objects if which == "default" else custom_objects
    [service_port] = only(objects, "Service")["spec"]["ports"]
    port = port_named(objects, service_port["targetPort"])
    assert port == service_port["port"] == int(env_of(objects)["CVMFS_OPERATOR_METRICS_PORT"])
    assert port == (9100 if which == "default" else 9200)


def test_service_monitor_is_off_by_default(default_objects: list[Obj]) -> None:
    assert "ServiceMonitor" not in kinds(default_objects)


def test_service_monitor_scrapes_the_metrics_service(custom_objects: list[Obj]) -> None:
    monitor = only(custom_objects, "ServiceMonitor")
    service = only(custom_objects, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [CUSTOM_NAMESPACE]}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "5s"}]
    assert service["metadata"]["annotations"] == {"example.org/scrape": "true"}


def test_metrics_can_be_switched_off(render: Callable[..., list[Obj]]) -> None:
    objects = render({"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}})
    assert "Service" not in kinds(objects)
    assert "ServiceMonitor" not in kinds(objects)
    assert env_of(objects)["CVMFS_OPERATOR_METRICS_PORT"] == "0"
    assert [p["name"] for p in container(objects)["ports"]] == ["healthz"]
    assert settings.from_env(env_of(objects)).metrics_port == 0


def test_default_publisher_image_matches_settings() -> None:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    assert values["publisherImage"] == settings.DEFAULT_PUBLISHER_IMAGE
