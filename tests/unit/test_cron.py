"""Cron schedule parsing and next-run computation (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tempyral.history.cron import CronError, parse


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("spec", "now", "expected"),
    [
        ("* * * * *", "2026-11-25 10:15:30", "2026-11-25 10:16:00"),
        ("*/15 * * * *", "2026-11-25 10:15:00", "2026-11-25 10:30:00"),
        ("0 0 * * *", "2026-11-25 10:15:00", "2026-11-26 00:00:00"),
        ("@hourly", "2026-11-25 10:15:00", "2026-11-25 11:00:00"),
        ("30 9 * * mon-fri", "2026-11-28 10:00:00", "2026-11-30 09:30:00"),  # Saturday -> Monday
        ("0 0 1 jan *", "2026-11-25 00:00:00", "2027-01-01 00:00:00"),
        ("0 12 29 2 *", "2026-03-01 00:00:00", "2028-02-29 12:00:00"),
        # Both day fields restricted: either one matching is enough.
        ("0 0 13 * 5", "2026-11-25 00:00:00", "2026-11-27 00:00:00"),
    ],
)
def test_next_after(spec: str, now: str, expected: str) -> None:
    assert parse(spec).next_after(at(now)) == at(expected)


def test_every_is_a_constant_delay_from_the_current_second() -> None:
    assert parse("@every 10s").next_after(1003.4) == 1013.0
    assert parse("@every 1m30s").next_after(0.0) == 90.0


@pytest.mark.parametrize("spec", ["", "* * * *", "61 * * * *", "* * * * * *", "@every nonsense", "a b c d e"])
def test_invalid_schedules(spec: str) -> None:
    with pytest.raises(CronError):
        parse(spec)
