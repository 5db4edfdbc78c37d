"""One task queue: a backlog of task references and the pollers waiting for one (sync match when possible)."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskRef:
    """Points at a pending task in an execution's outbox; history decides at start whether it is live."""

    namespace_id: str
    workflow_id: str
    run_id: str
    key: str


class TaskQueue:
    def __init__(self, name: str) -> None:
        self.name = name
        self._backlog: deque[TaskRef] = deque()
        self._pollers: deque[asyncio.Future[TaskRef]] = deque()
        self.last_poll_time = 0.0
        # Identity -> when it last polled, for DescribeTaskQueue.
        self.recent_pollers: dict[str, float] = {}

    @property
    def backlog_count(self) -> int:
        return len(self._backlog)

    def add(self, ref: TaskRef, front: bool = False) -> None:
        while self._pollers:
            poller = self._pollers.popleft()
            if not poller.done():
                poller.set_result(ref)
                return
        if front:
            self._backlog.appendleft(ref)
        else:
            self._backlog.append(ref)

    def drain(self) -> list[TaskRef]:
        refs = list(self._backlog)
        self._backlog.clear()
        return refs

    async def poll(self, timeout: float, now: float, identity: str = "") -> TaskRef | None:
        """The next task, waiting up to `timeout` seconds; None if none came."""
        self.last_poll_time = now
        self.recent_pollers[identity] = now
        if self._backlog:
            return self._backlog.popleft()
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
