"""status.timeline: where a recorded attempt's time went, from the API server's and kubelet's stamps."""

from __future__ import annotations

import datetime

from cvmfs_operator.api.phases import Phase
from cvmfs_operator.reconcile import timeline
from cvmfs_operator.reconcile.observed import PodView, Stratum0View, pod_view
from cvmfs_operator.reconcile.transaction import SetStatus, decide
from tests.unit.reconcile.builders import ME, NOW, observed, pod, result, transaction


def at(seconds: float) -> datetime.datetime:
    return NOW + datetime.timedelta(seconds=seconds)


def test_each_part_from_its_two_timestamps() -> None:
    view = PodView(name="p", attempt=1, phase="Succeeded", created=at(10), started=at(14), finished=at(74))
    parts = timeline.timeline("2024-05-01T12:30:00Z", view, at(75.5), verification_seconds=0.25)
    assert parts == {"queued": 10.0, "podStartup": 4.0, "publisher": 60.0, "recording": 1.5,
                     "verification": 0.25}


def test_a_part_without_timestamps_is_left_out() -> None:
    view = PodView(name="p", attempt=1, phase="Failed", created=at(10))
    assert timeline.timeline(None, view, at(20), None) == {}


def test_pod_view_reads_the_publisher_containers_start_and_end() -> None:
    meta = {"name": "p", "labels": {"a": "1"}, "creationTimestamp": "2024-05-01T12:30:10Z"}
    view = pod_view({"metadata": meta,
                     "status": {"phase": "Succeeded", "containerStatuses": [{"name": "publisher", "state": {
                         "terminated": {"exitCode": 0, "startedAt": "2024-05-01T12:30:14Z",
                                        "finishedAt": "2024-05-01T12:31:14Z"}}}]}}, "a")
    assert (view.created, view.started, view.finished) == (at(10), at(14), at(74))


def test_the_recorded_result_carries_the_timeline() -> None:
    txn = transaction(Phase.RUNNING, attempts=1, podName="publisher-a1", startTime="2024-05-01T12:29:00Z")
    txn["metadata"]["creationTimestamp"] = "2024-05-01T12:28:00Z"
    done = pod(1, "Succeeded", exit_code=0, termination_message=result(), created=at(-90),
               started=at(-85), finished=at(-5))
    s0 = Stratum0View(revision=8, root_hash="d" * 40, tag_revision=8, tag_hash="d" * 40, read_seconds=0.5)
    action = decide(observed(txn, lock=ME, pods=[done], stratum0=s0))
    assert isinstance(action, SetStatus)
    assert action.status.get("timeline") == {"queued": 30.0, "podStartup": 5.0, "publisher": 80.0,
                                             "recording": 5.0, "verification": 0.5}
