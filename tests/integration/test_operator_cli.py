"""``cvmfs-operator`` describes itself: --help, --version, and a clear error without settings."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata

from cvmfs_operator import settings


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CVMFS_OPERATOR_")}
    return subprocess.run([sys.executable, "-m", "cvmfs_operator.cli.operator", *args],
                          env={**base, **(env or {})}, capture_output=True, text=True, timeout=60,
                          check=False)


def test_help_names_every_setting_with_its_default_and_exits_0() -> None:
    result = run("--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "publishes to CernVM-FS repositories" in text
    for setting in settings.SETTINGS:
        assert setting.env in text
        assert setting.meaning.split()[0] in text
    assert "CVMFS_OPERATOR_NAMESPACE  [required]" in text
    assert f"CVMFS_OPERATOR_PUBLISHER_IMAGE  [{settings.DEFAULT_PUBLISHER_IMAGE}]" in text
    assert "CVMFS_OPERATOR_METRICS_PORT  [9100]" in text
    assert "CVMFS_OPERATOR_API_SERVER  [unset]" in text


def test_help_defaults_are_what_the_operator_uses() -> None:
    """The defaults printed come from the Settings object itself, not from a copy in the text."""
    defaults = settings.from_env({"CVMFS_OPERATOR_NAMESPACE": "x"})
    text = run("--help").stdout
    for setting in settings.SETTINGS[1:]:
        value = getattr(defaults, setting.field)
        assert f"{setting.env}  [{'unset' if value is None else value}]" in text


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith(f"cvmfs-operator {metadata.version('cvmfs-release-operator')} (kopf ")


def test_without_a_namespace_it_says_what_is_missing_and_exits_2() -> None:
    result = run()
    assert result.returncode == 2
    assert "CVMFS_OPERATOR_NAMESPACE must name the operator's namespace" in result.stderr
    assert "--help" in result.stderr


def test_an_unknown_argument_is_refused() -> None:
    result = run("--namespace", "x")
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr


def test_the_startup_line_masks_credentials_in_the_api_url() -> None:
    line = settings.describe(settings.from_env({
        "CVMFS_OPERATOR_NAMESPACE": "ops", "CVMFS_OPERATOR_API_SERVER": "https://admin:s3cr3t@api:6443"}))
    assert "s3cr3t" not in line
    assert "api_server=https://***@api:6443" in line
    assert line.startswith("namespace=ops publisher_image=")
