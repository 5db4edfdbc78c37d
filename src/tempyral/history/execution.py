"""One state change of one run in the making: new events, outbox rows and mutable state, committed together.

Operations receive an `ExecutionContext` from `HistoryEngine.update_execution`, decide, and record here;
the engine commits everything in one transaction and only then lets anything out (matching, timers, waiters).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from google.protobuf.message import Message
from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import EventType
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.history.v1 import message_pb2 as history_pb

from tempyral.clock import to_timestamp
from tempyral.history.mutable_state import ExecutionState
from tempyral.persistence.records import TaskRow

_ATTRIBUTE_FIELDS: dict[int, str] = {
    value: name.removeprefix("EVENT_TYPE_").lower() + "_event_attributes"
    for name, value in EventType.items()
    if value != EventType.EVENT_TYPE_UNSPECIFIED
}

# Event task ids only need to grow; seeding from the clock keeps them growing across restarts.
_task_ids = itertools.count(time.time_ns() // 1000)

# Events whose "started" id refers to an event that may still be buffered, by the id that links them
# (an activity's scheduled event id, a child's initiated event id): the flush fills the started id in.
_STARTED_EVENTS: dict[int, tuple[str, str]] = {
    ET.EVENT_TYPE_ACTIVITY_TASK_STARTED: ("activity_task_started_event_attributes", "scheduled_event_id"),
    ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED: (
        "child_workflow_execution_started_event_attributes",
        "initiated_event_id",
    ),
}
_OUTCOME_EVENTS: dict[int, tuple[str, str]] = {
    ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: ("activity_task_completed_event_attributes", "scheduled_event_id"),
    ET.EVENT_TYPE_ACTIVITY_TASK_FAILED: ("activity_task_failed_event_attributes", "scheduled_event_id"),
    ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: ("activity_task_timed_out_event_attributes", "scheduled_event_id"),
    ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED: ("activity_task_canceled_event_attributes", "scheduled_event_id"),
    **{
        event_type: (f"child_workflow_execution_{name}_event_attributes", "initiated_event_id")
        for name, event_type in (
            ("completed", ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED),
            ("failed", ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED),
            ("canceled", ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED),
            ("timed_out", ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT),
            ("terminated", ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED),
        )
    },
}


def _family(event_type: int) -> str:
    return "activity" if event_type in _ACTIVITY_EVENTS else "child"


_ACTIVITY_EVENTS = {
    ET.EVENT_TYPE_ACTIVITY_TASK_STARTED,
    ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    ET.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
}


def new_event(
    event_type: int, attributes: Message | None, now: float, links: Sequence[common.Link] = ()
) -> history_pb.HistoryEvent:
    event = history_pb.HistoryEvent(event_type=event_type, task_id=next(_task_ids))  # type: ignore[arg-type]
    event.event_time.CopyFrom(to_timestamp(now))
    if attributes is not None:
        getattr(event, _ATTRIBUTE_FIELDS[event_type]).CopyFrom(attributes)
    # Links a request carried (say, to the Nexus operation that sent a signal) are kept on its event.
    if links:
        event.links.extend(links)
    return event


@dataclass
class ExecutionContext:
    state: ExecutionState
    now: float
    # The run's committed history (serialized events); grows by new_events once they commit.
    history: list[bytes] = field(default_factory=list)
    new_events: list[history_pb.HistoryEvent] = field(default_factory=list)
    upsert_tasks: dict[str, TaskRow] = field(default_factory=dict)
    delete_task_keys: set[str] = field(default_factory=set)
    make_current: bool = False
    closed: bool = False
    # The next run of this workflow id (continue-as-new, retry, cron), committed in the same transaction.
    next_run: ExecutionContext | None = None
    # Search attributes or memo changed: the run's visibility row must be rewritten.
    visibility_changed: bool = False
    # In-memory effects that may happen only once the change is durable (waking update callers).
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    # False until something changes: read-only operations commit nothing.
    dirty: bool = False

    # -- history ---------------------------------------------------------------------------------------

    def append(
        self, event_type: int, attributes: Message | None = None, links: Sequence[common.Link] = ()
    ) -> history_pb.HistoryEvent:
        """Write an event to history now, with the next event id."""
        event = new_event(event_type, attributes, self.now, links)
        self.append_prepared(event)
        return event

    def append_prepared(self, event: history_pb.HistoryEvent) -> None:
        task = self.state.workflow_task
        if task is not None and task.speculative:
            # The pending task now has real events to deliver: it must be recorded whatever happens.
            task.speculative = False
        event.event_id = self.state.next_event_id
        self.state.next_event_id += 1
        self.state.history_size_bytes += event.ByteSize()
        self.new_events.append(event)
        self.dirty = True

    def carry_over(self, events: list[history_pb.HistoryEvent]) -> None:
        """Events copied, ids and all, from the run this one was reset from; the state already counts them."""
        self.new_events.extend(events)
        self.dirty = True

    def append_or_buffer(
        self, event_type: int, attributes: Message | None = None, links: Sequence[common.Link] = ()
    ) -> history_pb.HistoryEvent:
        """Events from outside the workflow (activity outcomes, timers, cancel requests) wait while a
        workflow task is in flight, and are written after its completion so the worker sees them next."""
        if self.state.workflow_task_in_flight:
            event = new_event(event_type, attributes, self.now, links)
            self.state.buffered_events.append(event.SerializeToString())
            self.dirty = True
            return event
        return self.append(event_type, attributes, links)

    def flush_buffered_events(self) -> bool:
        """Write the buffered events; True if there were any."""
        if not self.state.buffered_events:
            return False
        started_ids: dict[tuple[str, int], int] = {}
        for raw in self.state.buffered_events:
            event = history_pb.HistoryEvent.FromString(raw)
            outcome = _OUTCOME_EVENTS.get(event.event_type)
            if outcome is not None:
                attributes = getattr(event, outcome[0])
                link = (_family(event.event_type), getattr(attributes, outcome[1]))
                if link in started_ids:
                    attributes.started_event_id = started_ids[link]
            self.append_prepared(event)
            started = _STARTED_EVENTS.get(event.event_type)
            if started is not None:
                linked_id = getattr(getattr(event, started[0]), started[1])
                started_ids[(_family(event.event_type), linked_id)] = event.event_id
                child = self.state.children.get(linked_id)
                if event.event_type == ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED and child is not None:
                    child.started_event_id = event.event_id
        self.state.buffered_events.clear()
        return True

    # -- outbox ----------------------------------------------------------------------------------------

    def add_matching_task(self, key: str, task_queue: str) -> None:
        """A task for a poller on `task_queue`; it stays in the outbox until started or obsolete."""
        self._add_task(
            TaskRow(self.state.namespace_id, self.state.workflow_id, self.state.run_id, key, task_queue)
        )

    def add_timer(self, key: str, fire_at: float) -> None:
        self._add_task(
            TaskRow(self.state.namespace_id, self.state.workflow_id, self.state.run_id, key, "", fire_at)
        )

    def _add_task(self, row: TaskRow) -> None:
        self.delete_task_keys.discard(row.key)
        self.upsert_tasks[row.key] = row
        self.dirty = True

    def delete_task(self, key: str) -> None:
        self.upsert_tasks.pop(key, None)
        self.delete_task_keys.add(key)
        self.dirty = True

    def touch(self) -> None:
        """Mark a state-only change (no event) for commit."""
        self.dirty = True
