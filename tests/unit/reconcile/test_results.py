"""``results.classify``: what a terminated publisher pod means, and ``pod_view`` reading a raw Pod."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cvmfs_operator.api import contract
from cvmfs_operator.reconcile import results
from cvmfs_operator.reconcile.observed import PodView, parse_time, pod_view
from tests.unit.reconcile.builders import NOW, failure, result

RETRYABLE_CLASSES = {"Busy", "AttachFailed", "PayloadFetchFailed", "Internal"}


def ended(phase: str = "Failed", **facts: Any) -> PodView:
    return PodView(name="pub-a1", attempt=1, phase=phase, **facts)


def test_deadline_exceeded_is_final_and_wins_over_a_result() -> None:
    outcome = results.classify(ended(reason="DeadlineExceeded", exit_code=8,
                                     termination_message=failure("Cancelled")))
    assert (outcome.reason, outcome.retryable, outcome.succeeded, outcome.cancelled) == (
        "DeadlineExceeded", False, False, False)
    assert "spec.timeoutSeconds" in outcome.message
    assert outcome.result is None


def test_evicted_is_retryable_and_keeps_the_kubelet_message() -> None:
    outcome = results.classify(ended(reason="Evicted", message="The node was low on resource: memory."))
    assert (outcome.reason, outcome.retryable) == ("Evicted", True)
    assert "low on resource" in outcome.message


def test_oom_killed_is_retryable_with_the_log_tail() -> None:
    outcome = results.classify(ended(exit_code=137, container_reason="OOMKilled",
                                     termination_message="unpacking\nkilled"))
    assert (outcome.reason, outcome.retryable) == ("OOMKilled", True)
    assert outcome.log_tail == ["unpacking", "killed"]


@pytest.mark.parametrize(("phase", "exit_code"), [("Failed", 0), ("Succeeded", 0), ("Succeeded", None)])
def test_no_result_with_a_clean_exit(phase: str, exit_code: int | None) -> None:
    outcome = results.classify(ended(phase, exit_code=exit_code, termination_message=""))
    assert (outcome.reason, outcome.retryable, outcome.succeeded) == ("NoResult", True, False)


def test_crash_with_plain_log_text_keeps_the_last_forty_lines() -> None:
    lines = [f"line {i}" for i in range(100)]
    outcome = results.classify(ended(exit_code=139, container_reason="Error",
                                     termination_message="\n".join(lines)))
    assert (outcome.reason, outcome.retryable) == ("PublisherCrashed", True)
    assert "139" in outcome.message
    assert outcome.log_tail == lines[-40:]
    assert len(outcome.log_tail) == results.LOG_TAIL_LINES == 40


def test_crash_without_an_exit_code_says_unknown() -> None:
    outcome = results.classify(ended())
    assert outcome.reason == "PublisherCrashed"
    assert "unknown" in outcome.message
    assert outcome.log_tail == []


def test_long_log_lines_are_cut() -> None:
    outcome = results.classify(ended(exit_code=1, termination_message="x" * 5000))
    assert outcome.log_tail == ["x" * 500]


@pytest.mark.parametrize("text", [
    "{not json",
    '{"outcome": "Succeeded"}',  # lacks fields
    result(outcome="Exploded"),
    result(outcome="Failed", errorClass="Gremlins"),
])
def test_unreadable_result_is_invalid_and_left_to_the_tag_check(text: str) -> None:
    outcome = results.classify(ended(exit_code=1, termination_message=text))
    # Retryable: whether that attempt published is then decided from the repository's tags.
    assert (outcome.reason, outcome.retryable, outcome.succeeded) == ("InvalidResult", True, False)
    assert "unreadable result" in outcome.message


@pytest.mark.parametrize("error_class", list(contract.ErrorClass))
def test_each_error_class(error_class: contract.ErrorClass) -> None:
    text = failure(error_class.value, step="mount", message="it broke")
    code = int(contract.EXIT_CODES[error_class])
    outcome = results.classify(ended(exit_code=code, termination_message=text))
    assert outcome.reason == error_class.value
    assert outcome.retryable is (error_class.value in RETRYABLE_CLASSES)
    assert outcome.message == f"{error_class.value} at step mount: it broke"
    assert outcome.result == contract.decode_result(text)
    assert outcome.log_tail == ["publishing", "done"]
    assert not outcome.succeeded
    assert not outcome.cancelled


def test_failure_without_an_error_class_is_internal() -> None:
    outcome = results.classify(ended(exit_code=1, termination_message=result(
        outcome="Failed", errorClass=None, step=None, message="?", revisionAfter=None)))
    assert (outcome.reason, outcome.message, outcome.retryable) == ("Internal", "Internal: ?", True)


def test_cancelled_outcome() -> None:
    outcome = results.classify(ended(exit_code=8, termination_message=result(
        outcome="Cancelled", errorClass="Cancelled", message="", revisionAfter=None, tag=None)))
    assert (outcome.cancelled, outcome.succeeded, outcome.retryable) == (True, False, False)
    assert outcome.message == "the publisher was stopped"


def test_success() -> None:
    outcome = results.classify(ended("Succeeded", exit_code=0, termination_message=result()))
    assert (outcome.succeeded, outcome.reason, outcome.retryable) == (True, "Published", False)
    assert outcome.message == "published revision 8 as tag team-a-release-1"
    assert outcome.result is not None
    assert outcome.result["rootHash"] == "d" * 40


@pytest.mark.parametrize("missing", [{"revisionAfter": None}, {"tag": None}, {"tag": ""}])
def test_success_without_revision_or_tag_is_invalid(missing: dict[str, Any]) -> None:
    outcome = results.classify(ended("Succeeded", exit_code=0, termination_message=result(**missing)))
    assert (outcome.succeeded, outcome.reason, outcome.retryable) == (False, "InvalidResult", True)
    assert outcome.result is not None


def test_stage_failure_is_final_and_wins_over_the_publisher() -> None:
    outcome = results.classify(ended(stage_exit_code=2, stage_message="make: *** [all] Error 2",
                                     termination_message=result()))
    assert (outcome.reason, outcome.retryable, outcome.succeeded) == ("StageFailed", False, False)
    assert "exit code 2" in outcome.message
    assert "nothing was published" in outcome.message
    assert outcome.log_tail == ["make: *** [all] Error 2"]


def test_successful_stage_is_ignored() -> None:
    pod = ended("Succeeded", exit_code=0, stage_exit_code=0, termination_message=result())
    outcome = results.classify(pod)
    assert outcome.succeeded


# --------------------------------------------------------------------------------------------
# Reading a Pod as the API returns it
# --------------------------------------------------------------------------------------------


def test_pod_view_reads_publisher_and_stage_containers() -> None:
    raw = {
        "metadata": {
            "name": "cvmfs-pub-a2-x",
            "labels": {"cvmfs.cern.ch/attempt": "2"},
            "creationTimestamp": "2024-05-01T12:00:00Z",
            "deletionTimestamp": "2024-05-01T12:01:00Z",
        },
        "status": {
            "phase": "Failed",
            "reason": "Evicted",
            "message": "low memory",
            "initContainerStatuses": [
                {"name": "stage", "state": {"terminated": {"exitCode": 0, "message": "staged"}}}],
            "containerStatuses": [
                {"name": "sidecar", "state": {"terminated": {"exitCode": 9, "reason": "Error"}}},
                {"name": "publisher", "state": {"terminated": {
                    "exitCode": 137, "reason": "OOMKilled", "message": json.dumps({"a": 1})}}},
            ],
        },
    }
    view = pod_view(raw, "cvmfs.cern.ch/attempt")
    assert view == PodView(
        name="cvmfs-pub-a2-x", attempt=2, phase="Failed", reason="Evicted", message="low memory",
        exit_code=137, container_reason="OOMKilled", termination_message='{"a": 1}',
        created=parse_time("2024-05-01T12:00:00Z"), deleting=True, stage_exit_code=0, stage_message="staged")
    assert view.terminated


def test_pod_view_of_a_fresh_pod() -> None:
    raw = {"metadata": {"name": "p", "labels": {"cvmfs.cern.ch/attempt": "x"}}}
    view = pod_view(raw, "cvmfs.cern.ch/attempt")
    assert view == PodView(name="p", attempt=0, phase="Pending")
    assert not view.terminated


def test_parse_time() -> None:
    assert parse_time("2024-05-01T12:30:00Z") == NOW
    assert parse_time("2024-05-01T12:30:00") == NOW
    assert parse_time("") is None
    assert parse_time(None) is None
    assert parse_time("yesterday") is None


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (45.4, "45s"), (133, "2m13s"), (3723, "1h2m3s")])
def test_durations_print_like_kubectl(seconds: float, text: str) -> None:
    from cvmfs_operator.reconcile.transaction import go_duration
    assert go_duration(seconds) == text


@pytest.mark.parametrize(("status", "spec", "needed"), [
    ({}, {}, True),
    ({"phase": "Queued"}, {}, True),
    ({"phase": "Running"}, {}, True),
    ({"phase": "Succeeded"}, {}, True),  # no completionTime: cannot tell, look
    ({"phase": "Succeeded", "completionTime": "2024-05-01T11:59:00Z"}, {}, True),
    ({"phase": "Succeeded", "completionTime": "2024-05-01T10:00:00Z"}, {}, False),
    ({"phase": "Failed", "completionTime": "2024-05-01T10:00:00Z"}, {"ttlSecondsAfterFinished": 90_000},
     True),
    ({"phase": "Failed", "completionTime": "2024-04-01T10:00:00Z"}, {"ttlSecondsAfterFinished": 90_000},
     False),
])
def test_only_unfinished_or_recently_finished_transactions_keep_a_daemon(
        status: dict[str, Any], spec: dict[str, Any], needed: bool) -> None:
    from cvmfs_operator.reconcile.transaction import needs_attention
    assert needs_attention(status, spec, NOW) is needed
