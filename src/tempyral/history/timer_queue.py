"""Due-time ordered queue of timer tasks (user timers, timeouts, retry backoffs) and the loop firing them."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable

from tempyral.clock import Clock
from tempyral.persistence.records import TaskRow

log = logging.getLogger(__name__)

# Firing runs handlers concurrently; this bounds how many at once so a burst of due timers can't starve
# the rest of the server.
MAX_CONCURRENT_FIRES = 64


class TimerQueue:
    def __init__(self, clock: Clock, fire: Callable[[TaskRow], Awaitable[None]]) -> None:
        self._clock = clock
        self._fire = fire
        self._heap: list[tuple[float, int, TaskRow]] = []
        self._order = itertools.count()
        self._wakeup = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_FIRES)

    def schedule(self, row: TaskRow) -> None:
        assert row.fire_at is not None
        earliest = self._heap[0][0] if self._heap else None
        heapq.heappush(self._heap, (row.fire_at, next(self._order), row))
        if earliest is None or row.fire_at < earliest:
            self._wakeup.set()

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="timer-queue")

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        for task in list(self._inflight):
            task.cancel()
        await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            now = self._clock.now()
            while self._heap and self._heap[0][0] <= now:
                _, _, row = heapq.heappop(self._heap)
                await self._slots.acquire()
                task = asyncio.create_task(self._fire_one(row))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            delay = self._heap[0][0] - now if self._heap else 3600.0
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=max(delay, 0.001))
            except TimeoutError:
                pass

    async def _fire_one(self, row: TaskRow) -> None:
        try:
            await self._fire(row)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The row is still in the outbox; retry a little later rather than lose the timer.
            log.exception("timer task %s of %s failed; retrying", row.key, row.workflow_id)
            retry = TaskRow(
                row.namespace_id,
                row.workflow_id,
                row.run_id,
                row.key,
                row.task_queue,
                self._clock.now() + 1.0,
            )
            self.schedule(retry)
        finally:
            self._slots.release()
