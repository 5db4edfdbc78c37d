"""Cron schedules as Temporal accepts them: five fields (minute hour day-of-month month day-of-week),
`@every <duration>`, and the @yearly/@monthly/@weekly/@daily/@hourly shorthands, evaluated in UTC.

Only `next_after` is needed: the time the next run of a cron workflow should start.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_SHORTHANDS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}
_DAYS = {name: number for number, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class CronSchedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    # Vixie cron: when both day fields are restricted, a day matching either one counts.
    any_day_field: bool
    every_seconds: float = 0.0

    def next_after(self, now: float) -> float:
        """The first scheduled instant strictly after `now` (epoch seconds)."""
        if self.every_seconds:
            # @every is a constant delay from the current whole second (robfig/cron's ConstantDelaySchedule).
            return math.floor(now) + self.every_seconds
        moment = datetime.fromtimestamp(now, UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = moment + timedelta(days=366 * 5)
        while moment < limit:
            if moment.month not in self.months:
                moment = (moment.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(moment):
                moment = moment.replace(hour=0, minute=0) + timedelta(days=1)
            elif moment.hour not in self.hours:
                moment = moment.replace(minute=0) + timedelta(hours=1)
            elif moment.minute not in self.minutes:
                moment += timedelta(minutes=1)
            else:
                return moment.timestamp()
        raise CronError("cron schedule never fires")

    def _day_matches(self, moment: datetime) -> bool:
        in_month = moment.day in self.days
        in_week = (moment.weekday() + 1) % 7 in self.weekdays
        return (in_month or in_week) if self.any_day_field else (in_month and in_week)


def parse(spec: str) -> CronSchedule:
    text = spec.strip()
    if text.startswith("CRON_TZ=") or text.startswith("TZ="):
        raise CronError("time zones in cron schedules are not supported")
    if text.startswith("@every "):
        seconds = _duration(text.removeprefix("@every ").strip())
        if seconds <= 0:
            raise CronError(f"invalid @every interval in {spec!r}")
        everything = frozenset(range(60))
        return CronSchedule(everything, everything, everything, everything, everything, False, seconds)
    text = _SHORTHANDS.get(text.lower(), text)
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: {spec!r}")
    minute, hour, day, month, weekday = fields
    days = _field(day, 1, 31, {})
    weekdays = frozenset(d % 7 for d in _field(weekday, 0, 7, _DAYS))
    restricted_days = not day.startswith("*") and not weekday.startswith("*")
    return CronSchedule(
        minutes=_field(minute, 0, 59, {}),
        hours=_field(hour, 0, 23, {}),
        days=days,
        months=_field(month, 1, 12, _MONTHS),
        weekdays=weekdays,
        any_day_field=restricted_days,
    )


def _field(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        range_text, _, step_text = part.partition("/")
        step = _number(step_text, names) if step_text else 1
        if range_text in ("*", "?"):
            start, end = low, high
        elif "-" in range_text:
            first, _, last = range_text.partition("-")
            start, end = _number(first, names), _number(last, names)
        else:
            start = _number(range_text, names)
            end = high if step_text else start
        if step < 1 or not low <= start <= end <= high:
            raise CronError(f"value out of range [{low}, {high}] in {text!r}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _number(text: str, names: dict[str, int]) -> int:
    lowered = text.lower()
    if lowered in names:
        return names[lowered]
    if not text.isdigit():
        raise CronError(f"failed to parse {text!r} in cron schedule")
    return int(text)


def _duration(text: str) -> float:
    """Go-style durations such as 90s, 1m30s, 2h."""
    matches = _DURATION_PART.findall(text)
    if not matches or "".join(number + unit for number, unit in matches) != text:
        raise CronError(f"invalid duration {text!r}")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in matches)


def backoff_seconds(schedule: str, now: float) -> float:
    """Seconds until the schedule's next time, rounded up to whole seconds as the real server does."""
    return float(math.ceil(parse(schedule).next_after(now) - now))
