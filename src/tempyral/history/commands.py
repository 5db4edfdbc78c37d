"""Commands from a completed workflow task, already validated (`command_validation`), turned into events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from temporalio.api.command.v1 import message_pb2 as command_pb
from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import (
    ContinueAsNewInitiator,
    TaskQueueKind,
)
from temporalio.api.enums.v1 import command_type_pb2 as CT  # plain ints: faster than the enum wrapper
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.history.v1 import message_pb2 as history
from temporalio.api.protocol.v1 import message_pb2 as protocol
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue

from tempyral.durations import checked_seconds, seconds_of, to_duration
from tempyral.history import retry
from tempyral.history.command_validation import COMPLETION_COMMANDS, normalized_activity_timeouts
from tempyral.history.execution import ExecutionContext
from tempyral.history.mutable_state import ActivityInfo, TimerInfo
from tempyral.history.ops.activity_task import request_cancel_activity, schedule_activity
from tempyral.history.ops.child_workflow import initiate_child
from tempyral.history.ops.close_workflow import close_workflow
from tempyral.history.ops.external_workflow import initiate_cancel, initiate_signal
from tempyral.history.ops.new_run import NextRun, next_cron_run, retry_failed_run, start_next_run
from tempyral.history.ops.update import apply_message
from tempyral.history.proto_presence import copy_present, present
from tempyral.history.upserts import merged_memo, merged_search_attributes

if TYPE_CHECKING:
    from tempyral.history.engine import HistoryEngine


def apply_commands(
    engine: HistoryEngine,
    ctx: ExecutionContext,
    commands: Sequence[command_pb.Command],
    completed_event_id: int,
    identity: str,
    messages: dict[str, protocol.Message] | None = None,
) -> bool:
    """Turn validated commands into events; True if their outcome needs a new workflow task at once.

    A protocol-message command applies the update message it names at that point among the commands
    (and takes it out of `messages`)."""
    needs_task = False
    closing = any(command.command_type in COMPLETION_COMMANDS for command in commands)
    # Activities cancelled before they started: recorded after the batch's other events.
    cancellations: list[Callable[[], None]] = []
    for command in commands:
        kind = command.command_type
        if kind == CT.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK:
            _schedule_activity(ctx, command.schedule_activity_task_command_attributes, completed_event_id)
        elif kind == CT.COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK:
            scheduled = command.request_cancel_activity_task_command_attributes.scheduled_event_id
            info = ctx.state.activities[scheduled]
            cancellation = request_cancel_activity(ctx, info, completed_event_id, identity, closing)
            if cancellation is not None:
                cancellations.append(cancellation)
                needs_task = True
        elif kind == CT.COMMAND_TYPE_START_TIMER:
            _start_timer(ctx, command.start_timer_command_attributes, completed_event_id)
        elif kind == CT.COMMAND_TYPE_CANCEL_TIMER:
            _cancel_timer(ctx, command.cancel_timer_command_attributes.timer_id, completed_event_id, identity)
        elif kind == CT.COMMAND_TYPE_RECORD_MARKER:
            marker = command.record_marker_command_attributes
            recorded = history.MarkerRecordedEventAttributes(
                marker_name=marker.marker_name,
                details=marker.details,
                workflow_task_completed_event_id=completed_event_id,
            )
            copy_present(marker, recorded, "header", "failure")
            ctx.append(ET.EVENT_TYPE_MARKER_RECORDED, recorded)
        elif kind == CT.COMMAND_TYPE_PROTOCOL_MESSAGE and messages is not None:
            apply_message(engine, ctx, messages.pop(command.protocol_message_command_attributes.message_id))
        elif kind == CT.COMMAND_TYPE_MODIFY_WORKFLOW_PROPERTIES:
            _modify_properties(ctx, command.modify_workflow_properties_command_attributes, completed_event_id)
        elif kind == CT.COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            _upsert_search_attributes(
                ctx, command.upsert_workflow_search_attributes_command_attributes, completed_event_id
            )
        elif kind == CT.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION:
            completion = command.complete_workflow_execution_command_attributes
            completed = history.WorkflowExecutionCompletedEventAttributes(
                workflow_task_completed_event_id=completed_event_id,
                new_execution_run_id=next_cron_run(engine, ctx, present(completion, "result"), None),
            )
            copy_present(completion, completed, "result")
            close_workflow(ctx, ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, completed)
        elif kind == CT.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION:
            failure = command.fail_workflow_execution_command_attributes.failure
            retry_state, next_run_id = retry_failed_run(engine, ctx, failure)
            next_run_id = next_run_id or next_cron_run(engine, ctx, None, failure)
            close_workflow(
                ctx,
                ET.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
                history.WorkflowExecutionFailedEventAttributes(
                    failure=failure,
                    retry_state=retry_state,  # type: ignore[arg-type]
                    workflow_task_completed_event_id=completed_event_id,
                    new_execution_run_id=next_run_id,
                ),
            )
        elif kind == CT.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION:
            initiate_child(
                engine, ctx, command.start_child_workflow_execution_command_attributes, completed_event_id
            )
        elif kind == CT.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION:
            initiate_signal(
                ctx, command.signal_external_workflow_execution_command_attributes, completed_event_id
            )
        elif kind == CT.COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION:
            initiate_cancel(
                ctx, command.request_cancel_external_workflow_execution_command_attributes, completed_event_id
            )
        elif kind == CT.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION:
            _continue_as_new(
                engine, ctx, command.continue_as_new_workflow_execution_command_attributes, completed_event_id
            )
        elif kind == CT.COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION:
            canceled = history.WorkflowExecutionCanceledEventAttributes(
                workflow_task_completed_event_id=completed_event_id
            )
            copy_present(command.cancel_workflow_execution_command_attributes, canceled, "details")
            close_workflow(ctx, ET.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED, canceled)
    for cancellation in cancellations:
        cancellation()
    return needs_task


def _schedule_activity(
    ctx: ExecutionContext,
    attributes: command_pb.ScheduleActivityTaskCommandAttributes,
    completed_event_id: int,
) -> None:
    state = ctx.state
    s2c, s2s, st2c, heartbeat = normalized_activity_timeouts(state, attributes)
    policy = retry.activity_retry_policy(
        attributes.retry_policy if attributes.HasField("retry_policy") else None
    )
    task_queue = attributes.task_queue.name or state.task_queue
    scheduled = history.ActivityTaskScheduledEventAttributes(
        activity_id=attributes.activity_id,
        activity_type=attributes.activity_type,
        task_queue=taskqueue.TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
        schedule_to_close_timeout=to_duration(s2c),
        schedule_to_start_timeout=to_duration(s2s),
        start_to_close_timeout=to_duration(st2c),
        heartbeat_timeout=to_duration(heartbeat),
        workflow_task_completed_event_id=completed_event_id,
        retry_policy=retry.to_proto(policy),
        use_workflow_build_id=attributes.use_workflow_build_id,
    )
    copy_present(attributes, scheduled, "header", "input", "priority")
    event = ctx.append(ET.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, scheduled)
    schedule_activity(
        ctx,
        ActivityInfo(
            scheduled_event_id=event.event_id,
            activity_id=attributes.activity_id,
            activity_type=attributes.activity_type.name,
            task_queue=task_queue,
            scheduled_time=ctx.now,
            retry_policy=policy,
            schedule_to_close_timeout=s2c,
            schedule_to_start_timeout=s2s,
            start_to_close_timeout=st2c,
            heartbeat_timeout=heartbeat,
            use_workflow_build_id=attributes.use_workflow_build_id,
        ),
    )


def _start_timer(
    ctx: ExecutionContext, attributes: command_pb.StartTimerCommandAttributes, completed_event_id: int
) -> None:
    timeout = seconds_of(attributes.start_to_fire_timeout)
    started = history.TimerStartedEventAttributes(
        timer_id=attributes.timer_id, workflow_task_completed_event_id=completed_event_id
    )
    # A timer without a duration fires at once; its event leaves the duration unset, as the real server's.
    copy_present(attributes, started, "start_to_fire_timeout")
    event = ctx.append(ET.EVENT_TYPE_TIMER_STARTED, started)
    info = TimerInfo(timer_id=attributes.timer_id, started_event_id=event.event_id, fire_at=ctx.now + timeout)
    ctx.state.timers[info.timer_id] = info
    ctx.add_timer(timer_key(info.timer_id), info.fire_at)


def timer_key(timer_id: str) -> str:
    return f"timer/{timer_id}"


def _cancel_timer(ctx: ExecutionContext, timer_id: str, completed_event_id: int, identity: str) -> None:
    info = ctx.state.timers.pop(timer_id)
    ctx.delete_task(timer_key(timer_id))
    ctx.append(
        ET.EVENT_TYPE_TIMER_CANCELED,
        history.TimerCanceledEventAttributes(
            timer_id=timer_id,
            started_event_id=info.started_event_id,
            workflow_task_completed_event_id=completed_event_id,
            identity=identity,
        ),
    )


def _upsert_search_attributes(
    ctx: ExecutionContext,
    attributes: command_pb.UpsertWorkflowSearchAttributesCommandAttributes,
    completed_event_id: int,
) -> None:
    ctx.append(
        ET.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        history.UpsertWorkflowSearchAttributesEventAttributes(
            workflow_task_completed_event_id=completed_event_id,
            search_attributes=attributes.search_attributes,
        ),
    )
    ctx.state.search_attributes = merged_search_attributes(
        ctx.state.search_attributes, attributes.search_attributes.indexed_fields
    )
    ctx.visibility_changed = True


def _continue_as_new(
    engine: HistoryEngine,
    ctx: ExecutionContext,
    attributes: command_pb.ContinueAsNewWorkflowExecutionCommandAttributes,
    completed_event_id: int,
) -> None:
    def seconds(name: str) -> float | None:
        value = checked_seconds(getattr(attributes, name), name)
        return value if value > 0 else None

    spec = NextRun(
        initiator=attributes.initiator or ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_WORKFLOW,
        backoff=seconds("backoff_start_interval"),
        workflow_type=attributes.workflow_type.name or None,
        task_queue=attributes.task_queue.name or None,
        input=present(attributes, "input"),
        header=present(attributes, "header"),
        memo=present(attributes, "memo"),
        search_attributes=present(attributes, "search_attributes"),
        run_timeout=seconds("workflow_run_timeout"),
        task_timeout=seconds("workflow_task_timeout"),
        retry_policy=retry.workflow_retry_policy(present(attributes, "retry_policy")),
        continued_failure=present(attributes, "failure"),
        last_completion_result=present(attributes, "last_completion_result"),
        always_record_run_timeout=True,
        inherit_payloads=False,
    )
    next_run_id = start_next_run(engine, ctx, spec)
    assert ctx.next_run is not None
    next_state = ctx.next_run.state
    continued = history.WorkflowExecutionContinuedAsNewEventAttributes(
        new_execution_run_id=next_run_id,
        workflow_type=common.WorkflowType(name=next_state.workflow_type),
        task_queue=taskqueue.TaskQueue(name=next_state.task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
        workflow_run_timeout=to_duration(next_state.run_timeout),
        workflow_task_timeout=to_duration(next_state.task_timeout),
        workflow_task_completed_event_id=completed_event_id,
        # The closing event echoes the command's initiator (unset unless the worker set it); the new run's
        # started event names the actual initiator.
        initiator=attributes.initiator,
        inherit_build_id=attributes.inherit_build_id,
    )
    copy_present(
        attributes,
        continued,
        "input",
        "backoff_start_interval",
        "failure",
        "last_completion_result",
        "header",
        "memo",
        "search_attributes",
    )
    close_workflow(ctx, ET.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, continued)


def _modify_properties(
    ctx: ExecutionContext,
    attributes: command_pb.ModifyWorkflowPropertiesCommandAttributes,
    completed_event_id: int,
) -> None:
    """Upsert memo fields; a field set to null is removed."""
    ctx.append(
        ET.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
        history.WorkflowPropertiesModifiedEventAttributes(
            workflow_task_completed_event_id=completed_event_id, upserted_memo=attributes.upserted_memo
        ),
    )
    ctx.state.memo = merged_memo(ctx.state.memo, attributes.upserted_memo.fields)
    ctx.visibility_changed = True
