"""The operator image (not buildable here) agrees with the package and the chart that runs it."""

from __future__ import annotations

import json
import re
import tomllib

import yaml

from tests.unit.install.conftest import ROOT

DOCKERFILE = ROOT / "images" / "operator" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def args_of(keyword: str) -> list[str]:
    return [rest for kw, rest in instructions() if kw == keyword]


def test_multi_stage_on_python_311_slim() -> None:
    assert "PYTHON_IMAGE=python:3.11-slim" in args_of("ARG")
    stages = args_of("FROM")
    assert stages == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    assert any(rest.startswith("--from=build ") for rest in args_of("COPY"))


def test_installs_the_package_not_editable() -> None:
    runs = " ".join(args_of("RUN"))
    assert re.search(r"\bpip install \.(\s|$)", runs)
    assert "-e" not in runs.split()
    assert "--editable" not in runs


def test_runs_the_operator_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    [entrypoint] = args_of("ENTRYPOINT")
    assert json.loads(entrypoint) == ["cvmfs-operator"]
    assert "cvmfs-operator" in scripts
    assert args_of("CMD") == []


def test_runs_as_the_non_root_user_the_chart_expects() -> None:
    [user] = args_of("USER")
    uid, _, gid = user.partition(":")
    values = yaml.safe_load((ROOT / "charts/cvmfs-release-operator/values.yaml").read_text())
    assert int(uid) != 0
    assert int(uid) == values["podSecurityContext"]["runAsUser"]
    assert int(gid) == values["podSecurityContext"]["runAsGroup"]
    # USER is the last identity switch, after everything that needs root.
    keywords = [kw for kw, _ in instructions()]
    assert keywords.index("USER") > max(i for i, kw in enumerate(keywords) if kw == "RUN")


def test_exposes_the_liveness_and_metrics_ports() -> None:
    values = yaml.safe_load((ROOT / "charts/cvmfs-release-operator/values.yaml").read_text())
    [exposed] = args_of("EXPOSE")
    assert sorted(int(port) for port in exposed.split()) == sorted(
        [values["liveness"]["port"], values["metrics"]["port"]]
    )
