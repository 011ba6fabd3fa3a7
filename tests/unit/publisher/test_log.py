"""The publisher's log lines: stamps, redaction (also of cut lines), step lines, the tail."""

from __future__ import annotations

import calendar
import io

import pytest

from cvmfs_operator.api.contract import ErrorClass
from cvmfs_operator.publisher.errors import Cancelled, PublisherError
from cvmfs_operator.publisher.lines import Line
from cvmfs_operator.publisher.log import Log, timestamp
from cvmfs_operator.publisher.result import Record

SECRET = "s3cr3t-VALUE-0123"
AT = calendar.timegm((2024, 5, 1, 12, 0, 7)) + 0.25


def make_log() -> tuple[Log, io.StringIO]:
    stream = io.StringIO()
    log = Log(stream)
    log.add_secret(SECRET)
    return log, stream


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert timestamp(AT) == "2024-05-01T12:00:07.250Z"
    assert timestamp(AT + 0.0019) == "2024-05-01T12:00:07.251Z"
    assert timestamp(AT + 0.7495) == "2024-05-01T12:00:07.999Z"  # truncated, never rounded up


def test_a_child_line_is_stamped_when_read_and_redacted() -> None:
    log, stream = make_log()
    shown = log.child("script", Line(f"uploading with {SECRET}"), AT)
    assert shown == "uploading with ***"
    assert stream.getvalue() == "2024-05-01T12:00:07.250Z OUT script: uploading with ***\n"
    assert log.tail() == ["OUT script: uploading with ***"]


def test_blank_child_lines_are_skipped() -> None:
    log, stream = make_log()
    assert log.child("script", Line("  \t"), AT) is None
    assert stream.getvalue() == ""
    assert log.tail() == []


@pytest.mark.parametrize("cut_at", range(1, len(SECRET)))
def test_a_line_cut_inside_a_secret_shows_none_of_it(cut_at: int) -> None:
    log, stream = make_log()
    shown = log.child("cvmfs_server", Line(f"key={SECRET[:cut_at]}", cut=True), AT)
    assert shown == "key=*** [rest of line dropped]"
    assert stream.getvalue() == "2024-05-01T12:00:07.250Z OUT cvmfs_server: key=*** [rest of line dropped]\n"


def test_a_cut_line_without_a_secret_keeps_its_text() -> None:
    log, _ = make_log()
    assert log.child("script", Line("0123456789", cut=True), AT) == "0123456789 [rest of line dropped]"


def test_a_secret_is_also_redacted_as_child_output_shows_control_characters() -> None:
    log = Log(io.StringIO())
    log.add_secret("pass\x1bword")
    assert log.child("script", Line("pass\ufffdword"), AT) == "***"


def test_step_lines_reach_the_pod_log_but_not_the_tail() -> None:
    log, stream = make_log()
    log.step("mount started")
    assert stream.getvalue().endswith(" STEP mount started\n")
    assert log.tail() == []


def test_each_step_logs_its_start_and_end_with_the_reported_duration() -> None:
    log, stream = make_log()
    record = Record(log=log)
    with record.timing("mount"):
        log.info("working")
    with pytest.raises(PublisherError), record.timing("transaction"):
        raise PublisherError(ErrorClass.ATTACH_FAILED, "transaction", "no")
    with pytest.raises(Cancelled), record.timing("payload"):
        raise Cancelled()
    messages = [line.split(" ", 1)[1] for line in stream.getvalue().splitlines()]
    assert messages == [
        "STEP mount started", "INFO working", f"STEP mount finished in {record.durations['mount']:.3f} s",
        "STEP transaction started", f"STEP transaction failed after {record.durations['transaction']:.3f} s",
        "STEP payload started", f"STEP payload cancelled after {record.durations['payload']:.3f} s",
    ]
    assert record.step == "payload"
