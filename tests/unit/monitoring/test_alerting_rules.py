"""The alerting rules load in Prometheus and fire exactly when their unit tests say (promtool)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.monitoring import RULES, RULES_TEST, referenced, rule_expressions

PROMTOOL = shutil.which("promtool")


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    if PROMTOOL is None:
        pytest.fail("promtool is not installed: apt-get install --no-install-recommends prometheus "
                    "(.ci/run does this)")
    return subprocess.run([PROMTOOL, *map(str, args)], capture_output=True, text=True, timeout=120,
                          cwd=cwd, check=False)


def test_rules_are_valid_prometheus_rules() -> None:
    result = promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 12 rules found" in result.stdout


def test_every_alert_fires_and_stays_quiet_as_its_unit_tests_expect() -> None:
    result = promtool("test", "rules", RULES_TEST.name, cwd=RULES_TEST.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_that_fires_it_and_one_that_does_not() -> None:
    cases = [case for test in yaml.safe_load(RULES_TEST.read_text())["tests"]
             for case in test["alert_rule_test"]]
    fired = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert fired == set(rule_expressions())
    assert quiet == set(rule_expressions())


def test_a_broken_threshold_fails_the_unit_tests(tmp_path: Path) -> None:
    """Guards the guard: if a threshold changes, promtool's tests must notice."""
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    text = RULES.read_text()
    assert text.count("/ 3600 < 168") == 1
    (tmp_path / RULES.name).write_text(text.replace("/ 3600 < 168", "/ 3600 < 24"))
    result = promtool("test", "rules", RULES_TEST.name, cwd=tmp_path)
    assert result.returncode != 0
    assert "CvmfsWhitelistExpiringSoon" in result.stdout + result.stderr


def test_every_alert_has_a_severity_and_a_runbook_section() -> None:
    docs = (RULES.parents[4] / "docs" / "operations.md").read_text()
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
            assert anchor == rule["alert"].lower()
            assert f"\n### {rule['alert']}\n" in docs, f"no runbook for {rule['alert']} in docs/operations.md"


def test_no_rule_aggregates_or_matches_on_a_transaction_or_pod_name() -> None:
    """Cardinality stays bounded: the metrics carry no per-Transaction labels, and no rule asks."""
    for name, labels in referenced(rule_expressions()).items():
        assert not labels & {"transaction", "name", "namespace", "pod", "uid"}, name
