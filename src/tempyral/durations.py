"""Conversions between protobuf Durations and float seconds, with the validation the frontend needs."""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration

from tempyral.errors import InvalidArgument

# The real server caps workflow timeouts at 100 years rather than rejecting larger ones.
MAX_TIMEOUT_SECONDS = 100 * 365 * 24 * 3600.0


def to_duration(seconds: float) -> Duration:
    duration = Duration()
    nanos = round(seconds * 1e9)
    duration.seconds, duration.nanos = divmod(nanos, 1_000_000_000)
    return duration


def seconds_of(duration: Duration) -> float:
    return duration.seconds + duration.nanos / 1e9


def checked_seconds(duration: Duration, what: str) -> float:
    """Seconds of a request's duration, capped at 100 years; InvalidArgument if negative or malformed."""
    seconds = seconds_of(duration)
    if seconds < 0 or duration.nanos < 0:
        raise InvalidArgument(f"An invalid {what} is set on request. cause: negative duration")
    if abs(duration.nanos) >= 1_000_000_000:
        raise InvalidArgument(f"An invalid {what} is set on request. cause: nanos out of range")
    return min(seconds, MAX_TIMEOUT_SECONDS)
