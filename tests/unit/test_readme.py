"""The README is executable documentation: its commands and paths must be true for this tree."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from cvmfs_operator.cli import demo
from cvmfs_operator.cli.kubectl_cvmfs import parser as kubectl_cvmfs_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
# Top-level folders (fixed by the product card) that README paths start from, and top-level files.
FOLDERS = "|".join(re.escape(name) for name in (".ci", "benchmarks", "charts", "crds", "docs", "examples",
                                                 "images", "manifests", "operator", "tests"))
PATH = re.compile(rf"(?<![\w./-])((?:{FOLDERS})/[\w./-]*|pyproject\.toml|README\.md)")

FIRST_COMMANDS = [
    "    pip install -e '.[demo]' && cvmfs-operator-demo      # install and run the demo (simulated cluster)",
    "    pip install -e '.[test,dev,demo]' && python -m pytest -n 3 # run the tests (3 workers)",
]


def pyproject() -> dict[str, Any]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def shell_lines() -> list[str]:
    """Commands in the README: indented code lines and lines of ```sh blocks, comments removed."""
    lines: list[str] = []
    fenced = False
    for line in README.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.startswith("    "):
            command = line.split(" #", 1)[0].strip()
            if command:
                lines.append(command)
    return lines


def test_the_first_two_lines_are_the_commands_ci_relies_on() -> None:
    assert README.splitlines()[2:4] == FIRST_COMMANDS
    project = pyproject()["project"]
    assert project["scripts"]["cvmfs-operator-demo"] == "cvmfs_operator.cli.demo:main"
    extras = project["optional-dependencies"]
    assert {"demo", "test", "dev"} <= set(extras)
    assert any(dep.startswith("kmock") for dep in extras["demo"])  # the demo's emulator
    assert any(dep.startswith("pytest") for dep in extras["test"])
    ci = (ROOT / ".ci" / "run").read_text()
    assert "-e '.[test,dev,demo]'" in ci
    assert re.search(r"python3? -m pytest -n 3\s*$", ci, re.MULTILINE)  # the README's test command


def test_every_path_the_readme_mentions_exists() -> None:
    mentioned = {match.rstrip(".,") for match in PATH.findall(README)}
    mentioned |= {link for link in re.findall(r"\]\(([^)#]+)\)", README) if "://" not in link}
    assert {"examples/README.md", "docs/api.md", "images/operator/Dockerfile", ".ci/run"} <= mentioned
    missing = sorted(path for path in mentioned if not (ROOT / path).exists())
    assert not missing, f"README.md mentions paths that do not exist: {missing}"


def test_every_folder_of_the_layout_table_exists() -> None:
    rows = [line for line in README.splitlines() if re.match(r"\| `[^`]+/` \|", line)]
    assert rows
    for row in rows:
        base, *rest = re.findall(r"`([^`]+)`", row)
        for name in rest:
            if re.fullmatch(r"[\w.-]+/", name):  # a sub-folder named relative to the row's folder
                assert (ROOT / base / name).is_dir(), f"{base}{name} in the layout table does not exist"


def test_pytest_options_in_the_readme_exist() -> None:
    conftest = (ROOT / "tests" / "conftest.py").read_text()
    options = {opt for line in shell_lines() if "pytest" in line
               for opt in re.findall(r"(--[\w-]+)", line)}
    assert {"--with-e2e", "--simulate-kubelet"} <= options
    for option in options:
        assert f'"{option}"' in conftest, f"pytest has no option {option}"


def test_demo_command_lines_in_the_readme_parse() -> None:
    commands = [line for line in shell_lines() if line.startswith("cvmfs-operator-demo")]
    assert commands
    for command in commands:
        try:
            demo.parse_args(shlex.split(command)[1:])
        except SystemExit as exc:  # argparse refuses unknown options this way
            pytest.fail(f"README command does not parse: {command!r} ({exc})")


def test_kubectl_cvmfs_command_lines_in_the_readme_parse() -> None:
    commands = [line for line in shell_lines() if line.startswith("kubectl cvmfs")]
    assert commands
    for command in commands:
        try:
            kubectl_cvmfs_parser.build().parse_args(shlex.split(command)[2:])
        except SystemExit as exc:
            pytest.fail(f"README command does not parse: {command!r} ({exc})")
    assert pyproject()["project"]["scripts"]["kubectl-cvmfs"] == "cvmfs_operator.cli.kubectl_cvmfs.main:main"


def test_helm_values_and_example_names_in_the_readme_exist() -> None:
    values = yaml.safe_load((ROOT / "charts" / "cvmfs-release-operator" / "values.yaml").read_text())
    for key in re.findall(r"--set ([\w.]+)=", README):
        node: Any = values
        for part in key.split("."):
            assert part in (node if isinstance(node, dict) else {}), f"chart value {key} does not exist"
            node = node[part]
    names = {doc["metadata"]["name"] for path in (ROOT / "examples").glob("*.yaml")
             for doc in yaml.safe_load_all(path.read_text()) if doc}
    for name in re.findall(r"kubectl describe transaction (\S+)", README):
        assert name in names, f"no example Transaction named {name}"
