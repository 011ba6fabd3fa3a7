"""The Grafana dashboard: well-formed, portable (data source as a variable), and covering what an
SRE asks of it. That every metric it queries exists is proven against a running operator in
tests/integration/operator/test_observability.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.monitoring import dashboard, dashboard_expressions, referenced


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def test_identity() -> None:
    board = dashboard()
    assert board["uid"] == "cvmfs-release-operator"
    assert board["title"] == "CVMFS release operator"
    assert isinstance(board["schemaVersion"], int)
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))


def test_every_query_uses_the_data_source_variable() -> None:
    """No data source uid of somebody's Grafana baked in: the dashboard imports anywhere."""
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert target["expr"].strip()


def test_panels_fit_the_grid_without_overlapping() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in dashboard()["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0, panel["title"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                 for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_the_repository_filter_applies_to_every_per_repository_query() -> None:
    for title, expr in dashboard_expressions().items():
        if title.startswith("$") or "repository" not in str(referenced({title: expr}).values()):
            continue
        assert 'repository=~"$repository"' in expr, title


@pytest.mark.parametrize(("topic", "metric"), [
    ("publishes per repository", "cvmfs_operator_transactions_finished_total"),
    ("durations by step", "cvmfs_operator_publish_step_duration_seconds_bucket"),
    ("publish duration", "cvmfs_operator_publish_duration_seconds_bucket"),
    ("queue length", "cvmfs_operator_queue_length"),
    ("oldest waiting", "cvmfs_operator_queue_oldest_timestamp_seconds"),
    ("whitelist days left", "cvmfs_operator_repository_whitelist_expiry_timestamp_seconds"),
    ("repository readiness", "cvmfs_operator_repository_ready"),
    ("publisher pods", "cvmfs_operator_publisher_pods"),
    ("API errors", "cvmfs_operator_api_errors_total"),
    ("operator up", "cvmfs_operator_build_info"),
])
def test_covers(topic: str, metric: str) -> None:
    assert metric in referenced(dashboard_expressions()), topic


def test_failures_are_broken_down_by_reason() -> None:
    [expr] = [e for t, e in dashboard_expressions().items() if t == "Failures by reason [A]"]
    assert 'phase="Failed"' in expr
    assert "sum by (reason)" in expr
