"""Conversions between protobuf Durations and float seconds, with the validation the frontend needs."""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration

from tempyral.errors import InvalidArgument

# Go's time.Duration tops out near 292 years; the real server rejects anything past it.
MAX_SECONDS = 9_223_372_036.0


def to_duration(seconds: float) -> Duration:
    duration = Duration()
    nanos = round(seconds * 1e9)
    duration.seconds, duration.nanos = divmod(nanos, 1_000_000_000)
    return duration


def seconds_of(duration: Duration) -> float:
    return duration.seconds + duration.nanos / 1e9


def checked_seconds(duration: Duration, what: str) -> float:
    """Seconds of a request's duration field; InvalidArgument if negative or out of range."""
    seconds = seconds_of(duration)
    if seconds < 0 or duration.nanos < 0:
        raise InvalidArgument(f"An invalid {what} is set on request. cause: negative duration")
    if seconds > MAX_SECONDS or abs(duration.nanos) >= 1_000_000_000:
        raise InvalidArgument(f"Invalid {what}: duration is out of range.")
    return seconds
