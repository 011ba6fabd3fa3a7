"""Shared fixtures for the install artefacts: the generator module and rendered chart objects.

These tests read files and call Helm's Go SDK in-process (helm-python-sdk); no cluster, no network.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
GENERATOR_PATH = ROOT / ".ci" / "gen_install.py"

Obj = dict[str, Any]

# Every value in values.yaml changed, so a template that ignores a value is caught.
CUSTOM_NAMESPACE = "cvmfs-system"
CUSTOM_RELEASE = "publish"
CUSTOM_VALUES: dict[str, Any] = {
    "image": {"repository": "registry.example.org/cvmfs/operator", "tag": "1.2.3", "pullPolicy": "Always"},
    "imagePullSecrets": [{"name": "regcred"}],
    "publisherImage": "registry.example.org/cvmfs/publisher:1.2.3",
    "replicas": 2,
    "reconcileInterval": 2.5,
    "healthInterval": 300,
    "healthMaxInterval": 900,
    "healthConcurrency": 4,
    "apiRateLimit": {"qps": 20, "burst": 40},
    "whitelistWarningDays": 14,
    "logFormat": "json",
    "liveness": {"port": 8081, "initialDelaySeconds": 3, "periodSeconds": 7, "timeoutSeconds": 2,
                 "failureThreshold": 5},
    "metrics": {
        "enabled": True,
        "port": 9200,
        "service": {"type": "ClusterIP", "annotations": {"example.org/scrape": "true"}},
        "serviceMonitor": {"enabled": True, "interval": "15s", "scrapeTimeout": "5s",
                           "labels": {"release": "prometheus"}},
        "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}},
        "grafanaDashboard": {"enabled": True, "namespace": "monitoring", "labels": {"dashboards": "cvmfs"},
                             "annotations": {"grafana_folder": "CVMFS"}},
    },
    "serviceAccount": {"create": True, "name": "cvmfs-publisher-sa",
                       "annotations": {"example.org/owner": "release-team"}},
    "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
    "podAnnotations": {"example.org/team": "cvmfs"},
    "podLabels": {"example.org/tier": "control"},
    "priorityClassName": "system-cluster-critical",
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "cvmfs", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}},
    "podSecurityContext": {"runAsNonRoot": True, "runAsUser": 20000, "runAsGroup": 20000, "fsGroup": 20000,
                           "seccompProfile": {"type": "RuntimeDefault"}},
    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                        "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"}},
}


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_install", GENERATOR_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def gen() -> ModuleType:
    return _load_generator()


@pytest.fixture(scope="session")
def render(gen: ModuleType) -> Callable[..., list[Obj]]:
    """Render the real chart: render(values=None, name=..., namespace=...)."""

    def _render(values: dict[str, Any] | None = None, **kwargs: str) -> list[Obj]:
        objects: list[Obj] = gen.render_chart(ROOT, values, **kwargs)
        return objects

    return _render


@pytest.fixture(scope="session")
def default_objects(render: Callable[..., list[Obj]]) -> list[Obj]:
    return render()


@pytest.fixture(scope="session")
def custom_objects(render: Callable[..., list[Obj]]) -> list[Obj]:
    return render(CUSTOM_VALUES, name=CUSTOM_RELEASE, namespace=CUSTOM_NAMESPACE)


def only(objects: list[Obj], kind: str) -> Obj:
    """The one object of `kind`; fails if there is none or more than one."""
    found = [obj for obj in objects if obj["kind"] == kind]
    assert len(found) == 1, f"expected exactly one {kind}, found {len(found)}"
    return found[0]


def kinds(objects: list[Obj]) -> list[str]:
    return sorted(obj["kind"] for obj in objects)
