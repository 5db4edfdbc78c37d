"""The one source of time: timers and timeouts read it, never the wall clock, so tests and later
time-skipping can control it."""

from __future__ import annotations

import time

from google.protobuf.timestamp_pb2 import Timestamp


class Clock:
    """Wall-clock time in seconds since the epoch, as a float."""

    def now(self) -> float:
        return time.time()


def to_timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    nanos = round(seconds * 1e9)
    stamp.seconds, stamp.nanos = divmod(nanos, 1_000_000_000)
    return stamp


def from_timestamp(stamp: Timestamp) -> float:
    return stamp.seconds + stamp.nanos / 1e9
