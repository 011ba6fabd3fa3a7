"""Every rendered object and every file in manifests/ is valid against the real Kubernetes schemas."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.unit.install.conftest import ROOT, Obj, only

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schemas available.
KUBE_VERSIONS = ["1.28", kubernetes_validate.utils.latest_version()]
# Kinds without a built-in schema: the optional prometheus-operator ServiceMonitor and PrometheusRule.
NO_BUILTIN_SCHEMA = {"ServiceMonitor", "PrometheusRule"}
MANIFEST_FILES = sorted(
    path for path in (ROOT / "manifests").rglob("*.yaml") if path.name != "kustomization.yaml"
)


def validate(obj: Obj, version: str) -> None:
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(part) for part in exc.path)
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        pytest.fail(f"{name} invalid for Kubernetes {version} at {where}: {exc.message}")


def test_chart_version_floor_matches() -> None:
    chart = yaml.safe_load((ROOT / "charts/cvmfs-release-operator/Chart.yaml").read_text())
    assert chart["kubeVersion"] == f">={KUBE_VERSIONS[0]}.0-0"


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("which", ["default", "custom", "minimal"])
def test_rendered_objects_validate(
    version: str, which: str, render: Callable[..., list[Obj]],
    default_objects: list[Obj], custom_objects: list[Obj],
) -> None:
    objects = {
        "default": lambda: default_objects,
        "custom": lambda: custom_objects,
        "minimal": lambda: render({"metrics": {"enabled": False},
                                   "serviceAccount": {"create": False, "name": "existing"}}),
    }[which]()
    validated = 0
    for obj in objects:
        if obj["kind"] in NO_BUILTIN_SCHEMA:
            continue
        validate(obj, version)
        validated += 1
    assert validated >= 5


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: str(Path(p).relative_to(ROOT)))
def test_manifest_files_validate(path: Path, version: str) -> None:
    documents: list[Any] = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert documents, f"{path} is empty"
    for doc in documents:
        assert doc["kind"] not in NO_BUILTIN_SCHEMA
        validate(doc, version)


def test_manifests_cover_every_operator_object() -> None:
    kinds = sorted(
        doc["kind"] for path in MANIFEST_FILES for doc in yaml.safe_load_all(path.read_text()) if doc
    )
    expected = ["ClusterRole", "ClusterRoleBinding", "Deployment", "Namespace", "Role", "RoleBinding",
                "Service", "ServiceAccount"]
    crds = len(list((ROOT / "crds").glob("*.yaml")))
    assert kinds == sorted(expected + ["CustomResourceDefinition"] * crds)


def test_strict_validation_rejects_an_unknown_field(default_objects: list[Obj]) -> None:
    """Guards the guard: a misspelt field must fail, or the tests above prove nothing."""
    broken = copy.deepcopy(only(default_objects, "Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSIONS[-1], strict=True)
