"""Cron schedules: parsing, the next and the latest fire time, checked against hand-picked dates and
against a brute-force oracle that tries every minute."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cvmfs_operator.api import cron

UTC = datetime.UTC
FAST = settings(max_examples=150, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


# (expression, after, expected next fire)
NEXT = [
    ("* * * * *", "2026-12-01T17:40:30", "2026-12-01T17:41"),
    ("* * * * *", "2026-12-01T17:40:00", "2026-12-01T17:41"),  # strictly after
    ("*/15 * * * *", "2026-12-01T17:40", "2026-12-01T17:45"),
    ("0 3 * * SUN", "2026-12-01T17:40", "2026-12-06T03:00"),  # 1 December 2026 is a Tuesday
    ("0 3 * * 7", "2026-12-01T17:40", "2026-12-06T03:00"),  # 7 is Sunday too
    ("0 3 * * sun", "2026-12-06T03:00", "2026-12-13T03:00"),
    ("30 4 1 * *", "2026-12-01T17:40", "2027-01-01T04:30"),
    ("0 0 1 jan *", "2026-12-01T17:40", "2027-01-01T00:00"),
    ("0 0 29 2 *", "2026-12-01T00:00", "2028-02-29T00:00"),
    ("0 12 31 * *", "2026-04-01T00:00", "2026-05-31T12:00"),  # April has no 31st
    ("5/20 * * * *", "2026-12-01T17:40", "2026-12-01T17:45"),  # 5-59/20: 5, 25, 45
    ("1-10/3 * * * *", "2026-12-01T17:05", "2026-12-01T17:07"),
    ("0 22 * * MON-FRI", "2026-12-04T22:00", "2026-12-07T22:00"),  # Friday -> Monday
    ("0 0 13 * FRI", "2026-12-01T00:00", "2026-12-04T00:00"),  # either the 13th or a Friday
    ("0 0 */2 * FRI", "2026-12-01T00:00", "2026-12-11T00:00"),  # "*..." day: both must match
    ("@hourly", "2026-12-01T17:40", "2026-12-01T18:00"),
    ("@daily", "2026-12-31T23:59", "2027-01-01T00:00"),
    ("@midnight", "2026-12-01T17:40", "2026-12-02T00:00"),
    ("@weekly", "2026-12-01T17:40", "2026-12-06T00:00"),
    ("@monthly", "2026-12-01T17:40", "2027-01-01T00:00"),
    ("@yearly", "2026-12-01T17:40", "2027-01-01T00:00"),
    ("@ANNUALLY", "2026-12-01T17:40", "2027-01-01T00:00"),
    ("  0  3 * *  *  ", "2026-12-01T17:40", "2026-12-02T03:00"),
]


@pytest.mark.parametrize(("expression", "after", "expected"), NEXT)
def test_next_fire(expression: str, after: str, expected: str) -> None:
    assert cron.next_fire(expression, at(after)) == at(expected)


# (expression, at or before, expected latest fire)
LAST = [
    ("0 3 * * SUN", "2026-12-01T17:40", "2026-11-29T03:00"),
    ("0 3 * * SUN", "2026-11-29T03:00", "2026-11-29T03:00"),  # inclusive: the slot due now
    ("0 3 * * SUN", "2026-11-29T02:59:59", "2026-11-22T03:00"),
    ("*/15 * * * *", "2026-12-01T17:44:59", "2026-12-01T17:30"),
    ("0 0 29 2 *", "2026-12-01T00:00", "2024-02-29T00:00"),
    ("30 4 1 * *", "2026-01-01T04:29", "2025-12-01T04:30"),
    ("0 12 31 * *", "2026-05-01T00:00", "2026-03-31T12:00"),
]


@pytest.mark.parametrize(("expression", "before", "expected"), LAST)
def test_last_fire(expression: str, before: str, expected: str) -> None:
    assert cron.last_fire(expression, at(before)) == at(expected)


def test_other_timezones_are_compared_in_utc() -> None:
    cest = datetime.timezone(datetime.timedelta(hours=2))
    after = datetime.datetime(2026, 6, 1, 4, 30, tzinfo=cest)  # 02:30 UTC
    assert cron.next_fire("0 3 * * *", after) == at("2026-06-01T03:00")


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cron.next_fire("* * * * *", datetime.datetime(2026, 1, 1))


BAD = {
    "": "0 fields",
    "* * * *": "4 fields",
    "* * * * * *": "6 fields",
    "@reboot": "unknown macro",
    "60 * * * *": "minute: 60 is outside 0-59",
    "* 24 * * *": "hour: 24 is outside 0-23",
    "* * 0 * *": "day-of-month: 0 is outside 1-31",
    "* * 32 * *": "day-of-month: 32 is outside 1-31",
    "* * * 13 *": "month: 13 is outside 1-12",
    "* * * * 8": "day-of-week: 8 is outside 0-7",
    "* * * FOO *": "month: 'FOO' is not a number or a name",
    "MON * * * *": "minute: 'MON' is not a number",
    "5-1 * * * *": "runs backwards",
    "*/0 * * * *": "minute: 0 is outside",
    "*/ * * * *": "step in '*/' must be a positive number",
    "1,,2 * * * *": "empty list item",
    "? * * * *": "is not a number",
    "0 0 30 2 *": "never fires",
    "0 0 31 4,6 *": "never fires",
}


@pytest.mark.parametrize(("expression", "problem"), BAD.items(), ids=[repr(k) for k in BAD])
def test_invalid_schedules_are_refused_with_a_reason(expression: str, problem: str) -> None:
    with pytest.raises(cron.CronError, match=problem.replace("*", r"\*").replace("?", r"\?")):
        cron.parse(expression)
    assert problem.split("'")[0] in (cron.error(expression) or "")


def test_a_restricted_weekday_rescues_an_impossible_day() -> None:
    # Both day fields restricted: either matches, so the 30th of February does not matter.
    assert cron.next_fire("0 0 30 2 MON", at("2026-12-01T00:00")) == at("2027-02-01T00:00")


def test_valid_schedules_have_no_error() -> None:
    for expression, _, _ in NEXT:
        assert cron.error(expression) is None


# The oracle: every minute from the start, with the field sets written out independently.
def _oracle_matches(fields: list[set[int]], star_day: bool, star_weekday: bool, t: datetime.datetime) -> bool:
    minutes, hours, days, months, weekdays = fields
    in_month, in_week = t.day in days, (t.isoweekday() % 7) in weekdays
    day_ok = (in_month and in_week) if (star_day or star_weekday) else (in_month or in_week)
    return t.minute in minutes and t.hour in hours and t.month in months and day_ok


def _field(values: list[int] | None, low: int, high: int) -> tuple[str, set[int]]:
    if values is None:
        return "*", set(range(low, high + 1))
    return ",".join(map(str, sorted(set(values)))), set(values)


@st.composite
def schedules(draw: st.DrawFn) -> tuple[str, list[set[int]], bool, bool]:
    spans = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]
    texts, sets = [], []
    for index, (low, high) in enumerate(spans):
        values = draw(st.none() | st.lists(st.integers(low, high), min_size=1, max_size=4))
        if index == 2 and values is not None:
            values = [v for v in values if v <= 28] or [1]  # always fires within the oracle's window
        text, chosen = _field(values, low, high)
        texts.append(text)
        sets.append(chosen)
    return " ".join(texts), sets, texts[2] == "*", texts[4] == "*"


@FAST
@given(schedules(), st.datetimes(min_value=datetime.datetime(2020, 1, 1),
                                  max_value=datetime.datetime(2030, 1, 1)))
def test_next_and_last_fire_agree_with_a_minute_by_minute_search(
        schedule: tuple[str, list[set[int]], bool, bool], start: datetime.datetime) -> None:
    expression, fields, star_day, star_weekday = schedule
    after = start.replace(tzinfo=UTC)
    found = cron.next_fire(expression, after)
    assert found > after
    assert _oracle_matches(fields, star_day, star_weekday, found)
    # Nothing fires in between: scan at most a year of minutes by hours that could match.
    probe = after.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    while probe < found:
        if probe.hour in fields[1] and probe.month in fields[3]:
            assert not _oracle_matches(fields, star_day, star_weekday, probe), probe
            probe += datetime.timedelta(minutes=1)
        else:
            probe = probe.replace(minute=0) + datetime.timedelta(hours=1)
    assert cron.last_fire(expression, found) == found
    assert cron.last_fire(expression, found - datetime.timedelta(seconds=1)) < found
    assert cron.next_fire(expression, cron.last_fire(expression, after)) > after
