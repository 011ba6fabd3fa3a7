"""Standard 5-field cron expressions, in UTC: parse once, then find the next (or latest) fire time.

``minute hour day-of-month month day-of-week`` with ``*``, lists (``1,15``), ranges (``1-5``),
steps (``*/15``, ``1-30/5``, and ``5/15`` meaning ``5-59/15``), month names ``JAN``-``DEC`` and day
names ``SUN``-``SAT`` (case-insensitive; day 7 is Sunday too), or one of the macros ``@yearly``
(``@annually``), ``@monthly``, ``@weekly``, ``@daily`` (``@midnight``) and ``@hourly``.

Day matching follows Vixie cron (and Kubernetes CronJobs): when both day fields are restricted, a
day matches if *either* does; a field starting with ``*`` (``*/2`` included) counts as unrestricted,
and then the other one alone decides.

Pure functions: no clock. Times are timezone-aware; they are compared in UTC.
"""

from __future__ import annotations

import calendar
import datetime
from dataclasses import dataclass

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = {name: number for number, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
WEEKDAYS = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))}
FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
# A schedule that fires at all does so within 8 years (29 February of a leap year; 2100 is none).
HORIZON = datetime.timedelta(days=8 * 366)
_MINUTE = datetime.timedelta(minutes=1)
UTC = datetime.UTC


class CronError(ValueError):
    """Not a valid cron expression, or one that never fires; the message says why."""


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]  # 1-31
    months: frozenset[int]  # 1-12
    weekdays: frozenset[int]  # 0-6, Sunday is 0
    any_day: bool  # the day-of-month field starts with "*"
    any_weekday: bool  # the day-of-week field starts with "*"

    def day_matches(self, day: datetime.date) -> bool:
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def matches(self, moment: datetime.datetime) -> bool:
        at = _utc(moment)
        return (at.minute in self.minutes and at.hour in self.hours and at.month in self.months
                and self.day_matches(at.date()))


def _number(text: str, low: int, high: int, names: dict[str, int], field: str) -> int:
    value = names.get(text.upper()) if names else None
    if value is None:
        if not text.isdigit():
            raise CronError(f"{field}: {text!r} is not a number{' or a name' if names else ''}")
        value = int(text)
    if not low <= value <= high:
        raise CronError(f"{field}: {value} is outside {low}-{high}")
    return value


def _field(text: str, low: int, high: int, field: str,
           names: dict[str, int] | None = None) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{field}: empty list item in {text!r}")
        span, slash, step_text = part.partition("/")
        step = 1
        if slash:
            step = _number(step_text, 1, high - low + 1, {}, field) if step_text else 0
            if step < 1:
                raise CronError(f"{field}: step in {part!r} must be a positive number")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            start, _, end = span.partition("-")
            first = _number(start, low, high, names or {}, field)
            last = _number(end, low, high, names or {}, field)
            if first > last:
                raise CronError(f"{field}: range {span!r} runs backwards")
        else:
            first = _number(span, low, high, names or {}, field)
            last = high if slash else first  # "5/15" is "5-<max>/15"
        values.update(range(first, last + 1, step))
    return frozenset(values)


def parse(expression: str) -> Cron:
    """The schedule ``expression`` describes; :class:`CronError` if it is not valid or never fires."""
    text = expression.strip()
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise CronError(f"unknown macro {expression!r}; use one of {', '.join(sorted(MACROS))}")
        text = MACROS[text.lower()]
    parts = text.split()
    if len(parts) != len(FIELDS):
        raise CronError(f"{len(parts)} fields in {expression!r}; "
                        f"a cron expression has 5 ({' '.join(FIELDS)})")
    weekdays = _field(parts[4], 0, 7, FIELDS[4], WEEKDAYS)
    cron = Cron(
        minutes=_field(parts[0], 0, 59, FIELDS[0]),
        hours=_field(parts[1], 0, 23, FIELDS[1]),
        days=_field(parts[2], 1, 31, FIELDS[2]),
        months=_field(parts[3], 1, 12, FIELDS[3], MONTHS),
        weekdays=frozenset(day % 7 for day in weekdays),
        any_day=parts[2].startswith("*"),
        any_weekday=parts[4].startswith("*"),
    )
    if not cron.any_weekday and not cron.any_day:
        return cron  # some day of the week comes in every month: it fires
    longest = max(calendar.monthrange(2024, month)[1] for month in cron.months)  # 2024: 29 February
    if cron.any_weekday and min(cron.days) > longest:
        raise CronError(f"{expression!r} never fires: "
                        f"no month of {sorted(cron.months)} has day {min(cron.days)}")
    return cron


def _utc(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is None:
        raise ValueError("cron times must be timezone-aware")
    return moment.astimezone(UTC)


def _month_start(at: datetime.datetime, months: int) -> datetime.datetime:
    index = at.year * 12 + at.month - 1 + months
    return at.replace(year=index // 12, month=index % 12 + 1, day=1, hour=0, minute=0)


def _search(cron: Cron, start: datetime.datetime, forward: bool) -> datetime.datetime:
    """The first minute from ``start`` (itself included) in the direction given that matches."""
    limit = start + (HORIZON if forward else -HORIZON)
    at = start
    while (at <= limit) if forward else (at >= limit):
        if at.month not in cron.months:
            at = _month_start(at, 1) if forward else _month_start(at, 0) - _MINUTE
        elif not cron.day_matches(at.date()):
            day = at.replace(hour=0, minute=0)
            at = day + datetime.timedelta(days=1) if forward else day - _MINUTE
        elif at.hour not in cron.hours:
            hour = at.replace(minute=0)
            at = hour + datetime.timedelta(hours=1) if forward else hour - _MINUTE
        elif at.minute not in cron.minutes:
            at = at + _MINUTE if forward else at - _MINUTE
        else:
            return at
    raise CronError("the schedule does not fire within 8 years")


def next_fire(cron: Cron | str, after: datetime.datetime) -> datetime.datetime:
    """The first fire time strictly after ``after`` (UTC, whole minutes)."""
    schedule = parse(cron) if isinstance(cron, str) else cron
    start = _utc(after).replace(second=0, microsecond=0) + _MINUTE
    return _search(schedule, start, forward=True)


def last_fire(cron: Cron | str, at_or_before: datetime.datetime) -> datetime.datetime:
    """The latest fire time at or before ``at_or_before`` (UTC): the schedule slot now due."""
    schedule = parse(cron) if isinstance(cron, str) else cron
    start = _utc(at_or_before).replace(second=0, microsecond=0)
    return _search(schedule, start, forward=False)


def error(expression: str) -> str | None:
    """Why ``expression`` is not a usable schedule, or None."""
    try:
        next_fire(parse(expression), datetime.datetime(2026, 1, 1, tzinfo=UTC))
    except CronError as exc:
        return str(exc)
    return None
