"""DescribeWorkflowExecution: the run's configuration, status and pending work, from mutable state."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import EventType, PendingActivityState, PendingWorkflowTaskState, TaskQueueKind
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.history.v1 import message_pb2 as history_pb
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue
from temporalio.api.workflow.v1 import message_pb2 as workflow_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.clock import to_timestamp
from tempyral.durations import to_duration
from tempyral.history.engine import HistoryEngine
from tempyral.history.mutable_state import ActivityInfo, ExecutionState
from tempyral.history.ops.new_run import run_timeout_at
from tempyral.history.proto_presence import copy_present


async def describe_workflow(
    engine: HistoryEngine, namespace_id: str, workflow_id: str, run_id: str
) -> wsr.DescribeWorkflowExecutionResponse:
    run_id = await engine.resolve_run_id(namespace_id, workflow_id, run_id)
    entry = await engine.load(namespace_id, workflow_id, run_id)
    state = entry.state
    normal_queue = taskqueue.TaskQueue(name=state.task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL)
    info = workflow_pb.WorkflowExecutionInfo(
        execution=common.WorkflowExecution(workflow_id=state.workflow_id, run_id=state.run_id),
        type=common.WorkflowType(name=state.workflow_type),
        status=state.status,  # type: ignore[arg-type]
        history_length=state.next_event_id - 1,
        memo=common.Memo.FromString(state.memo),
        search_attributes=common.SearchAttributes.FromString(state.search_attributes),
        task_queue=state.task_queue,
        state_transition_count=state.state_transition_count,
        history_size_bytes=state.history_size_bytes,
        first_run_id=state.first_run_id,
        root_execution=common.WorkflowExecution(
            workflow_id=state.root_workflow_id or state.workflow_id, run_id=state.root_run_id or state.run_id
        ),
    )
    if state.parent is not None:
        info.parent_namespace_id = state.parent.namespace_id
        info.parent_execution.workflow_id = state.parent.workflow_id
        info.parent_execution.run_id = state.parent.run_id
    if state.auto_reset_points:
        info.auto_reset_points.ParseFromString(state.auto_reset_points)
    if state.build_id:
        info.most_recent_worker_version_stamp.build_id = state.build_id
    info.start_time.CopyFrom(to_timestamp(state.start_time))
    info.execution_time.CopyFrom(to_timestamp(state.execution_time or state.start_time))
    if not state.running:
        info.close_time.CopyFrom(to_timestamp(state.close_time))
        info.execution_duration.CopyFrom(
            to_duration(max(0.0, state.close_time - (state.execution_time or state.start_time)))
        )
    response = wsr.DescribeWorkflowExecutionResponse(
        execution_config=workflow_pb.WorkflowExecutionConfig(
            task_queue=normal_queue,
            default_workflow_task_timeout=to_duration(state.task_timeout),
        ),
        workflow_execution_info=info,
        workflow_extended_info=_extended_info(state),
        pending_activities=[
            _pending_activity(a)
            for a in sorted(state.activities.values(), key=lambda a: a.scheduled_event_id)
        ],
    )
    # The timeouts as the run's start recorded them: one never set is left out, as the real server does.
    started = history_pb.HistoryEvent.FromString(entry.events[0]).workflow_execution_started_event_attributes
    copy_present(started, response.execution_config, "workflow_execution_timeout", "workflow_run_timeout")
    for child in sorted(state.children.values(), key=lambda c: c.initiated_event_id):
        if child.run_id:
            response.pending_children.add(
                workflow_id=child.workflow_id,
                run_id=child.run_id,
                workflow_type_name=child.workflow_type,
                initiated_id=child.initiated_event_id,
                parent_close_policy=child.parent_close_policy,  # type: ignore[arg-type]
            )
    task = state.workflow_task
    if task is not None:
        pending = response.pending_workflow_task
        pending.state = (
            PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED
            if task.started
            else PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_SCHEDULED
        )
        pending.scheduled_time.CopyFrom(to_timestamp(task.scheduled_time))
        pending.original_scheduled_time.CopyFrom(to_timestamp(task.scheduled_time))
        if task.started:
            pending.started_time.CopyFrom(to_timestamp(task.started_time))
        pending.attempt = task.attempt
    return response


# The real server (Go) reports an unset run deadline as the zero time, 0001-01-01T00:00:00Z.
_GO_ZERO_TIME = Timestamp(seconds=-62135596800)


def _extended_info(state: ExecutionState) -> workflow_pb.WorkflowExecutionExtendedInfo:
    extended = workflow_pb.WorkflowExecutionExtendedInfo(
        cancel_requested=state.cancel_requested,
        reset_run_id=state.reset_run_id,
        original_start_time=to_timestamp(state.original_start_time or state.start_time),
    )
    run_deadline = run_timeout_at(state, state.execution_time or state.start_time)
    extended.run_expiration_time.CopyFrom(to_timestamp(run_deadline) if run_deadline else _GO_ZERO_TIME)
    if state.execution_expiration_time:
        extended.execution_expiration_time.CopyFrom(to_timestamp(state.execution_expiration_time))
    if state.last_reset_time:
        extended.last_reset_time.CopyFrom(to_timestamp(state.last_reset_time))
    if state.start_request_id:
        extended.request_id_infos[state.start_request_id].CopyFrom(
            workflow_pb.RequestIdInfo(event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, event_id=1)
        )
    return extended


def _pending_activity(info: ActivityInfo) -> workflow_pb.PendingActivityInfo:
    if info.cancel_requested:
        activity_state = PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED
    elif info.started:
        activity_state = PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
    else:
        activity_state = PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
    pending = workflow_pb.PendingActivityInfo(
        activity_id=info.activity_id,
        activity_type=common.ActivityType(name=info.activity_type),
        state=activity_state,
        attempt=info.attempt,
        maximum_attempts=info.retry_policy.maximum_attempts,
        last_worker_identity=info.last_worker_identity,
    )
    if info.heartbeat_details is not None:
        pending.heartbeat_details.ParseFromString(info.heartbeat_details)
    if info.last_heartbeat_time:
        pending.last_heartbeat_time.CopyFrom(to_timestamp(info.last_heartbeat_time))
    if info.started:
        pending.last_started_time.CopyFrom(to_timestamp(info.started_time))
    else:
        pending.scheduled_time.CopyFrom(to_timestamp(info.attempt_scheduled_time or info.scheduled_time))
    if info.schedule_to_close_timeout > 0:
        pending.expiration_time.CopyFrom(to_timestamp(info.scheduled_time + info.schedule_to_close_timeout))
    if info.last_failure:
        pending.last_failure.CopyFrom(failure_pb.Failure.FromString(info.last_failure))
    return pending
