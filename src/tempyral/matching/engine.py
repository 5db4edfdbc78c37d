"""Matching: task queues per namespace, name and task type, held in memory.

The durable record of a pending task is its execution's outbox row, so matching itself writes nothing: after
a restart the engine re-adds every outbox row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from tempyral.matching.task_queue import TaskQueue, TaskRef

TaskType = Literal["workflow", "activity"]

# A sticky queue nobody polled for this long is presumed dead: its tasks go to the normal queue.
STICKY_POLLER_GRACE_SECONDS = 10.0
# How long DescribeTaskQueue keeps listing a poller after its last poll.
POLLER_MEMORY_SECONDS = 300.0


class MatchingEngine:
    def __init__(self, now: Callable[[], float]) -> None:
        self._queues: dict[tuple[str, str, TaskType], TaskQueue] = {}
        self._now = now
        self._dead_sticky: set[tuple[str, str]] = set()

    def queue(self, namespace_id: str, name: str, task_type: TaskType) -> TaskQueue:
        key = (namespace_id, name, task_type)
        found = self._queues.get(key)
        if found is None:
            found = self._queues[key] = TaskQueue(name)
        return found

    def add_task(self, task_type: TaskType, task_queue: str, ref: TaskRef) -> None:
        self.queue(ref.namespace_id, task_queue, task_type).add(ref)

    async def poll(
        self, namespace_id: str, task_queue: str, task_type: TaskType, timeout: float, identity: str = ""
    ) -> TaskRef | None:
        if task_type == "workflow":
            self._dead_sticky.discard((namespace_id, task_queue))
        return await self.queue(namespace_id, task_queue, task_type).poll(timeout, self._now(), identity)

    def pollers(self, namespace_id: str, task_queue: str, task_type: TaskType) -> dict[str, float]:
        """Who polled the queue within the last few minutes, and when."""
        queue = self._queues.get((namespace_id, task_queue, task_type))
        if queue is None:
            return {}
        cutoff = self._now() - POLLER_MEMORY_SECONDS
        return {identity: at for identity, at in queue.recent_pollers.items() if at >= cutoff}

    def sticky_worker_alive(self, namespace_id: str, sticky_queue: str) -> bool:
        """Whether a worker has been polling `sticky_queue` recently (or is polling it now)."""
        if (namespace_id, sticky_queue) in self._dead_sticky:
            return False
        queue = self._queues.get((namespace_id, sticky_queue, "workflow"))
        if queue is None:
            return False
        return queue.has_pollers or self._now() - queue.last_poll_time < STICKY_POLLER_GRACE_SECONDS

    def shutdown_sticky_queue(self, namespace_id: str, sticky_queue: str) -> list[TaskRef]:
        """The worker owning `sticky_queue` is gone: forget the queue and return what was waiting there."""
        self._dead_sticky.add((namespace_id, sticky_queue))
        queue = self._queues.pop((namespace_id, sticky_queue, "workflow"), None)
        return queue.drain() if queue is not None else []

    def backlog_count(self, namespace_id: str, task_queue: str, task_type: TaskType) -> int:
        queue = self._queues.get((namespace_id, task_queue, task_type))
        return queue.backlog_count if queue is not None else 0
