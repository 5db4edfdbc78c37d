"""Rebuilding a run's mutable state from a prefix of its history (what a workflow reset starts from).

Mutable state is normally kept up to date as events are written and snapshotted with every commit; only a
reset needs it recomputed, for a history cut short at an earlier point. `rebuild_state` replays the events
into a fresh state, keeping from the run's current state only what history does not carry (its identity,
configuration and chain links). Outbox rows are not made here: `PendingWork` says what is still pending, and
the caller decides how to resume it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.history.v1 import message_pb2 as history

from tempyral.clock import from_timestamp
from tempyral.durations import seconds_of
from tempyral.history import retry, state_codec
from tempyral.history.mutable_state import (
    RUNNING,
    ActivityInfo,
    ChildInfo,
    ExecutionState,
    TimerInfo,
    WorkflowTaskInfo,
)
from tempyral.history.upserts import merged_memo, merged_search_attributes


@dataclass
class PendingWork:
    """Work initiated in the replayed history whose outcome is not in it."""

    # Initiated event ids of SignalExternal / RequestCancelExternal commands not yet resolved.
    external_signals: list[int] = field(default_factory=list)
    external_cancels: list[int] = field(default_factory=list)


def rebuild_state(
    template: ExecutionState, events: Iterable[history.HistoryEvent]
) -> tuple[ExecutionState, PendingWork]:
    """The state `template`'s run had right after the last of `events` (its history from event 1 on)."""
    state = _fresh_copy(template)
    pending = PendingWork()
    for event in events:
        _apply(state, pending, event)
        state.next_event_id = event.event_id + 1
        state.history_size_bytes += event.ByteSize()
    return state, pending


def _fresh_copy(template: ExecutionState) -> ExecutionState:
    """The template's identity and configuration, with everything history decides set back to a start."""
    state = state_codec.loads(ExecutionState, state_codec.dumps(template))
    state.status = RUNNING
    state.close_time = 0.0
    state.close_event_id = 0
    state.next_event_id = 1
    state.history_size_bytes = 0
    state.previous_started_event_id = 0
    state.last_completed_workflow_task_event_id = 0
    state.sticky_task_queue = ""
    state.sticky_schedule_to_start_timeout = 0.0
    state.cancel_requested = False
    state.signal_request_ids = []
    state.workflow_task = None
    state.activities = {}
    state.timers = {}
    state.buffered_events = []
    state.build_id = ""
    state.children = {}
    state.accepted_updates = {}
    state.completed_updates = {}
    state.state_transition_count = 0
    state.reset_run_id = ""
    return state


def _apply(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    kind = event.event_type
    handler = _HANDLERS.get(kind)
    if handler is not None:
        handler(state, pending, event)
    elif kind in _ACTIVITY_OUTCOMES:
        state.activities.pop(getattr(event, _ACTIVITY_OUTCOMES[kind]).scheduled_event_id, None)
    elif kind in _CHILD_OUTCOMES:
        state.children.pop(getattr(event, _CHILD_OUTCOMES[kind]).initiated_event_id, None)
    elif kind in _EXTERNAL_OUTCOMES:
        attribute, resolved = _EXTERNAL_OUTCOMES[kind]
        initiated = getattr(event, attribute).initiated_event_id
        waiting = pending.external_signals if resolved == "signal" else pending.external_cancels
        if initiated in waiting:
            waiting.remove(initiated)


def _started(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    started = event.workflow_execution_started_event_attributes
    state.memo = started.memo.SerializeToString()
    state.search_attributes = started.search_attributes.SerializeToString()


def _task_scheduled(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    scheduled = event.workflow_task_scheduled_event_attributes
    state.workflow_task_seq += 1
    state.workflow_task = WorkflowTaskInfo(
        seq=state.workflow_task_seq,
        attempt=scheduled.attempt or 1,
        task_queue=scheduled.task_queue.name,
        sticky=scheduled.task_queue.kind == TaskQueueKind.TASK_QUEUE_KIND_STICKY,
        scheduled_time=from_timestamp(event.event_time),
        start_to_close_timeout=seconds_of(scheduled.start_to_close_timeout),
        scheduled_event_id=event.event_id,
    )


def _task_started(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    task = state.workflow_task
    if task is None:
        return
    started = event.workflow_task_started_event_attributes
    task.started_event_id = event.event_id
    task.started_time = from_timestamp(event.event_time)
    task.started_identity = started.identity
    task.request_id = started.request_id


def _task_completed(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    completed = event.workflow_task_completed_event_attributes
    state.previous_started_event_id = completed.started_event_id
    state.last_completed_workflow_task_event_id = event.event_id
    state.build_id = completed.worker_version.build_id or state.build_id
    state.workflow_task = None


def _task_ended(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    state.workflow_task = None


def _activity_scheduled(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    scheduled = event.activity_task_scheduled_event_attributes
    state.activities[event.event_id] = ActivityInfo(
        scheduled_event_id=event.event_id,
        activity_id=scheduled.activity_id,
        activity_type=scheduled.activity_type.name,
        task_queue=scheduled.task_queue.name,
        scheduled_time=from_timestamp(event.event_time),
        retry_policy=retry.activity_retry_policy(scheduled.retry_policy),
        schedule_to_close_timeout=seconds_of(scheduled.schedule_to_close_timeout),
        schedule_to_start_timeout=seconds_of(scheduled.schedule_to_start_timeout),
        start_to_close_timeout=seconds_of(scheduled.start_to_close_timeout),
        heartbeat_timeout=seconds_of(scheduled.heartbeat_timeout),
        use_workflow_build_id=scheduled.use_workflow_build_id,
    )


def _activity_cancel_requested(
    state: ExecutionState, pending: PendingWork, event: history.HistoryEvent
) -> None:
    info = state.activities.get(event.activity_task_cancel_requested_event_attributes.scheduled_event_id)
    if info is not None:
        info.cancel_requested = True
        info.cancel_requested_event_id = event.event_id


def _timer_started(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    started = event.timer_started_event_attributes
    state.timers[started.timer_id] = TimerInfo(
        timer_id=started.timer_id,
        started_event_id=event.event_id,
        fire_at=from_timestamp(event.event_time) + seconds_of(started.start_to_fire_timeout),
    )


def _timer_ended(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    if event.event_type == ET.EVENT_TYPE_TIMER_FIRED:
        timer_id = event.timer_fired_event_attributes.timer_id
    else:
        timer_id = event.timer_canceled_event_attributes.timer_id
    state.timers.pop(timer_id, None)


def _child_initiated(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    initiated = event.start_child_workflow_execution_initiated_event_attributes
    state.children[event.event_id] = ChildInfo(
        initiated_event_id=event.event_id,
        workflow_id=initiated.workflow_id,
        workflow_type=initiated.workflow_type.name,
        parent_close_policy=initiated.parent_close_policy,
    )


def _child_started(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    started = event.child_workflow_execution_started_event_attributes
    child = state.children.get(started.initiated_event_id)
    if child is not None:
        child.run_id = started.workflow_execution.run_id
        child.started_event_id = event.event_id


def _signaled(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    request_id = event.workflow_execution_signaled_event_attributes.request_id
    if request_id:
        state.signal_request_ids.append(request_id)


def _cancel_requested(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    state.cancel_requested = True


def _search_attributes_upserted(
    state: ExecutionState, pending: PendingWork, event: history.HistoryEvent
) -> None:
    upserted = event.upsert_workflow_search_attributes_event_attributes.search_attributes
    state.search_attributes = merged_search_attributes(state.search_attributes, upserted.indexed_fields)


def _properties_modified(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    upserted = event.workflow_properties_modified_event_attributes.upserted_memo
    state.memo = merged_memo(state.memo, upserted.fields)


def _update_accepted(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    accepted = event.workflow_execution_update_accepted_event_attributes
    state.accepted_updates[accepted.accepted_request.meta.update_id] = event.event_id


def _update_completed(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    completed = event.workflow_execution_update_completed_event_attributes
    state.completed_updates[completed.meta.update_id] = event.event_id


def _external_signal(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    pending.external_signals.append(event.event_id)


def _external_cancel(state: ExecutionState, pending: PendingWork, event: history.HistoryEvent) -> None:
    pending.external_cancels.append(event.event_id)


_HANDLERS = {
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: _started,
    ET.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED: _task_scheduled,
    ET.EVENT_TYPE_WORKFLOW_TASK_STARTED: _task_started,
    ET.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: _task_completed,
    ET.EVENT_TYPE_WORKFLOW_TASK_FAILED: _task_ended,
    ET.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT: _task_ended,
    ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: _activity_scheduled,
    ET.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED: _activity_cancel_requested,
    ET.EVENT_TYPE_TIMER_STARTED: _timer_started,
    ET.EVENT_TYPE_TIMER_FIRED: _timer_ended,
    ET.EVENT_TYPE_TIMER_CANCELED: _timer_ended,
    ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: _child_initiated,
    ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED: _child_started,
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: _signaled,
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED: _cancel_requested,
    ET.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: _search_attributes_upserted,
    ET.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED: _properties_modified,
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: _update_accepted,
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED: _update_completed,
    ET.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: _external_signal,
    ET.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: _external_cancel,
}

# Events that end an activity, a child or an external request, by the attribute field naming the link.
_ACTIVITY_OUTCOMES = {
    ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    ET.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}
_CHILD_OUTCOMES = {
    ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED: (
        "start_child_workflow_execution_failed_event_attributes"
    ),
    ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: "child_workflow_execution_completed_event_attributes",
    ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED: "child_workflow_execution_failed_event_attributes",
    ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED: "child_workflow_execution_canceled_event_attributes",
    ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT: "child_workflow_execution_timed_out_event_attributes",
    ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED: "child_workflow_execution_terminated_event_attributes",
}
_EXTERNAL_OUTCOMES = {
    ET.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED: (
        "external_workflow_execution_signaled_event_attributes",
        "signal",
    ),
    ET.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED: (
        "signal_external_workflow_execution_failed_event_attributes",
        "signal",
    ),
    ET.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED: (
        "external_workflow_execution_cancel_requested_event_attributes",
        "cancel",
    ),
    ET.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED: (
        "request_cancel_external_workflow_execution_failed_event_attributes",
        "cancel",
    ),
}
