"""Matching: task queues per namespace, name and task type, held in memory.

The durable record of a pending task is its execution's outbox row, so matching itself writes nothing: after
a restart the engine re-adds every outbox row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb

from tempyral.clock import to_timestamp
from tempyral.matching.task_queue import QueueStats, TaskQueue, TaskRef

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
            found = self._queues[key] = TaskQueue(name, self._now)
        return found

    def add_task(self, task_type: TaskType, task_queue: str, ref: TaskRef) -> None:
        self.queue(ref.namespace_id, task_queue, task_type).add(ref)

    async def poll(
        self,
        namespace_id: str,
        task_queue: str,
        task_type: TaskType,
        timeout: float,
        identity: str = "",
        info: taskqueue_pb.PollerInfo | None = None,
    ) -> TaskRef | None:
        """`info` is what the poll request says about its worker, kept for DescribeTaskQueue."""
        if task_type == "workflow":
            self._dead_sticky.discard((namespace_id, task_queue))
        queue = self.queue(namespace_id, task_queue, task_type)
        ref = await queue.poll(timeout, self._now(), identity, info)
        # The real server counts the end of a long poll as an access too, unless the poller went away.
        queue.recent_pollers[identity] = self._now()
        return ref

    def seconds_since_poll(self, namespace_id: str, task_queue: str, task_type: TaskType) -> float | None:
        """How long since a poller last waited on the queue (0 while one waits); None if none ever did."""
        queue = self._queues.get((namespace_id, task_queue, task_type))
        if queue is None or not queue.last_poll_time:
            return None
        if queue.has_pollers:
            return 0.0
        last = max(queue.recent_pollers.values(), default=queue.last_poll_time)
        return self._now() - last

    def pollers(
        self, namespace_id: str, task_queue: str, task_type: TaskType
    ) -> list[taskqueue_pb.PollerInfo]:
        """Who polled the queue in the last few minutes, newest first, as DescribeTaskQueue lists them."""
        queue = self._queues.get((namespace_id, task_queue, task_type))
        if queue is None:
            return []
        cutoff = self._now() - POLLER_MEMORY_SECONDS
        for identity in [name for name, at in queue.recent_pollers.items() if at < cutoff]:
            del queue.recent_pollers[identity]  # forgotten, so a queue's poller memory stays bounded
            queue.poller_info.pop(identity, None)
        found = []
        for identity, at in sorted(queue.recent_pollers.items(), key=lambda item: -item[1]):
            info = taskqueue_pb.PollerInfo(identity=identity)
            stored = queue.poller_info.get(identity)
            if stored is not None:
                info.CopyFrom(stored)
            info.last_access_time.CopyFrom(to_timestamp(at))
            found.append(info)
        return found

    def stats(self, namespace_id: str, task_queue: str, task_type: TaskType) -> QueueStats:
        """Backlog size and age, add and dispatch rates; zeros for a queue nobody used."""
        queue = self._queues.get((namespace_id, task_queue, task_type))
        return queue.stats() if queue is not None else QueueStats()

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
