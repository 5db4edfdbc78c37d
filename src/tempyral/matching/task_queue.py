"""One task queue: a backlog of task references and the pollers waiting for one (sync match when possible)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb

# Add and dispatch rates are averaged over this window, as the real server reports them.
RATE_WINDOW_SECONDS = 30.0
# The shortest span a rate is measured over, so that the first event does not divide by zero.
MIN_RATE_SPAN_SECONDS = 0.001


@dataclass(frozen=True)
class TaskRef:
    """Points at a pending task in an execution's outbox; history decides at start whether it is live."""

    namespace_id: str
    workflow_id: str
    run_id: str
    key: str


class RateWindow:
    """The times of recent events (tasks added or dispatched), kept for RATE_WINDOW_SECONDS."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def record(self, now: float) -> None:
        self._times.append(now)
        self._expire(now)

    def count(self, now: float) -> int:
        self._expire(now)
        return len(self._times)

    def oldest(self, now: float) -> float:
        """The time of the oldest event in the window; `now` if there is none."""
        self._expire(now)
        return self._times[0] if self._times else now

    def _expire(self, now: float) -> None:
        while self._times and self._times[0] < now - RATE_WINDOW_SECONDS:
            self._times.popleft()


@dataclass(frozen=True)
class QueueStats:
    """What DescribeTaskQueue reports about one queue's tasks."""

    backlog_count: int = 0
    backlog_age: float = 0.0
    add_rate: float = 0.0
    dispatch_rate: float = 0.0


class TaskQueue:
    def __init__(self, name: str, now: Callable[[], float] = time.time) -> None:
        self.name = name
        self._now = now
        # Each task with the time it was queued, for the backlog age.
        self._backlog: deque[tuple[TaskRef, float]] = deque()
        self._pollers: deque[asyncio.Future[TaskRef]] = deque()
        self.last_poll_time = 0.0
        # Identity -> when it last polled, for DescribeTaskQueue.
        self.recent_pollers: dict[str, float] = {}
        # Identity -> what its latest poll said about it (rate limit, build id), for DescribeTaskQueue.
        self.poller_info: dict[str, taskqueue_pb.PollerInfo] = {}
        self._added = RateWindow()
        self._dispatched = RateWindow()

    @property
    def backlog_count(self) -> int:
        return len(self._backlog)

    def stats(self) -> QueueStats:
        now = self._now()
        age = now - self._backlog[0][1] if self._backlog else 0.0
        # Rates are measured from the oldest event still in the window, as the real server's read 1/age
        # for a single recent task; one span for both, so that their difference is the backlog's growth.
        span = max(now - min(self._added.oldest(now), self._dispatched.oldest(now)), MIN_RATE_SPAN_SECONDS)
        added, dispatched = self._added.count(now) / span, self._dispatched.count(now) / span
        return QueueStats(len(self._backlog), max(age, 0.0), added, dispatched)

    def add(self, ref: TaskRef, front: bool = False) -> None:
        now = self._now()
        if not front:  # a task put back in front was counted when it first came
            self._added.record(now)
        while self._pollers:
            poller = self._pollers.popleft()
            if not poller.done():
                poller.set_result(ref)
                return
        if front:
            # Keep the front the oldest entry, so the backlog age stays a look at one element.
            self._backlog.appendleft((ref, min(now, self._backlog[0][1]) if self._backlog else now))
        else:
            self._backlog.append((ref, now))

    def drain(self) -> list[TaskRef]:
        refs = [ref for ref, _ in self._backlog]
        self._backlog.clear()
        return refs

    async def poll(
        self, timeout: float, now: float, identity: str = "", info: taskqueue_pb.PollerInfo | None = None
    ) -> TaskRef | None:
        """The next task, waiting up to `timeout` seconds; None if none came."""
        self.last_poll_time = now
        self.recent_pollers[identity] = now
        self.poller_info[identity] = info if info is not None else taskqueue_pb.PollerInfo(identity=identity)
        if self._backlog:
            self._dispatched.record(now)
            return self._backlog.popleft()[0]
        waiter: asyncio.Future[TaskRef] = asyncio.get_running_loop().create_future()
        self._pollers.append(waiter)
        try:
            await asyncio.wait((waiter,), timeout=timeout)
        except asyncio.CancelledError:
            if waiter.done():
                # Handed over just as the poller went away: give the task to the next one.
                self.add(waiter.result(), front=True)
            else:
                waiter.cancel()
                self._remove(waiter)
            raise
        if waiter.done():
            self._dispatched.record(self._now())
            return waiter.result()
        waiter.cancel()
        self._remove(waiter)
        return None

    def _remove(self, waiter: asyncio.Future[TaskRef]) -> None:
        try:
            self._pollers.remove(waiter)
        except ValueError:
            pass

    @property
    def has_pollers(self) -> bool:
        return any(not p.done() for p in self._pollers)
