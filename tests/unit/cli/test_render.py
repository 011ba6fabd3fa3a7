"""What the release manager reads: tables, phase changes, summaries and exit codes."""

from __future__ import annotations

import datetime
from typing import Any

from cvmfs_operator.api.types import Transaction
from cvmfs_operator.cli.kubectl_cvmfs import exitcodes, render
from cvmfs_operator.cli.kubectl_cvmfs.exitcodes import Exit

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)


def txn(name: str, namespace: str = "team", **status: Any) -> Transaction:
    return {"metadata": {"name": name, "namespace": namespace, "creationTimestamp": "2024-05-01T11:57:55Z"},
            "spec": {"repository": "sw.example.org", "path": "/r", "payload": {"remove": {"paths": ["x"]}}},
            "status": status}  # type: ignore[typeddict-item]


def test_a_table_like_kubectl_get() -> None:
    items = [txn("b", phase="Queued", queuePosition=2), txn("a", phase="Succeeded", revisionAfter=7,
                                                           duration="1m2s")]
    headers, rows = render.transaction_rows(items, NOW, all_namespaces=False, wide=False)
    assert render.table(headers, rows).splitlines() == [
        "NAME   REPOSITORY       PHASE       REVISION   DURATION   AGE",
        "a      sw.example.org   Succeeded   7          1m2s       2m5s",
        "b      sw.example.org   Queued      <none>     <none>     2m5s",
    ]
    headers, rows = render.transaction_rows(items[:1], NOW, all_namespaces=True, wide=True)
    assert headers == ["NAMESPACE", "NAME", "REPOSITORY", "PHASE", "REVISION", "DURATION", "AGE", "PATH",
                       "QUEUE", "REASON"]
    assert rows == [["team", "b", "sw.example.org", "Queued", "<none>", "<none>", "2m5s", "/r", "2",
                     "<none>"]]


def test_ages_read_like_kubectl() -> None:
    def ago(seconds: int) -> str:
        return render.age((NOW - datetime.timedelta(seconds=seconds)).isoformat(), NOW)
    assert [ago(5), ago(125), ago(3600), ago(4 * 3600 + 60), ago(20 * 3600), ago(3 * 86400)] == [
        "5s", "2m5s", "60m", "4h1m", "20h", "3d"]


def test_phase_changes_are_one_line_each_and_silence_when_nothing_changed() -> None:
    queued = {"phase": "Queued", "reason": "Queued", "queuePosition": 2}  # as the operator writes it
    assert render.change(None, {}) == "Pending"
    assert render.change({}, {}) is None  # no status written yet, still: said once
    assert render.change({"phase": "Pending"}, queued) == "Queued  position 2 in the repository's queue"
    waiting = {"phase": "Pending", "reason": "RepositoryNotFound"}
    assert render.change(None, waiting) == "Pending  RepositoryNotFound"
    assert render.change(queued, dict(queued)) is None
    moved = render.change(queued, {**queued, "queuePosition": 1})
    assert moved == "position 1 in the repository's queue"
    running = {"phase": "Running", "podName": "cvmfs-pub-a1-x", "attempts": 1}
    assert render.change(queued, running) == "Running  attempt 1, publisher pod cvmfs-pub-a1-x"
    failed = {"phase": "Failed", "reason": "PayloadFailed", "message": "script exited 1"}
    assert render.change(running, failed) == "Failed  PayloadFailed  script exited 1"
    assert render.change(queued, {"phase": "Running"}, enabled=True) == "\x1b[36mRunning\x1b[0m"


def test_the_summary_names_revision_tag_and_duration() -> None:
    done = txn("a", phase="Succeeded", reason="Published", revisionBefore=6, revisionAfter=7, tag="v1",
               duration="41s")
    assert render.summary(done) == [
        "Transaction team/a: Succeeded (Published)",
        "  repository  sw.example.org  path /r",
        "  revision    6 -> 7",
        "  tag         v1",
        "  duration    41s",
    ]


def test_exit_codes_by_outcome() -> None:
    assert [exitcodes.for_phase(p) for p in ("Succeeded", "Failed", "Cancelled", "Running", None)] == [
        Exit.SUCCEEDED, Exit.FAILED, Exit.CANCELLED, None, None]
    assert len({int(e) for e in Exit}) == len(Exit)


def test_progress_and_sizes() -> None:
    assert render.progress_bar(512, 1024, width=10) == "[#####.....]  50.0%  512 B / 1.0 KiB"
    assert render.size(3 * 1024**3) == "3.0 GiB"
