"""ResetWorkflowExecution: a new run that replays the base run's history up to a workflow task, then goes on.

The new run's history is the base run's events before the reset point, followed by a workflow task failed
with cause RESET_WORKFLOW, the signals and updates the base run received after that point (unless
excluded), and a fresh workflow task on the normal queue. What was pending at the reset point resumes:
activities are scheduled again, timers keep their original deadlines, children stay linked. The workflow
id's current run (usually the base run) is terminated in the same transaction, and the new run becomes
current.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from temporalio.api.enums.v1 import (
    ResetReapplyExcludeType,
    ResetReapplyType,
    UpdateAdmittedEventOrigin,
    WorkflowTaskFailedCause,
)
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.history.v1 import message_pb2 as history
from temporalio.api.workflow.v1 import message_pb2 as workflow_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.clock import to_timestamp
from tempyral.errors import InvalidArgument
from tempyral.history.commands import timer_key
from tempyral.history.engine import HistoryEngine
from tempyral.history.execution import ExecutionContext
from tempyral.history.mutable_state import ExecutionState
from tempyral.history.ops.activity_task import schedule_activity
from tempyral.history.ops.close_workflow import SERVER_IDENTITY, terminate_in_context
from tempyral.history.ops.new_run import run_timeout_at
from tempyral.history.ops.workflow_task_schedule import schedule_workflow_task
from tempyral.history.rebuild import PendingWork, rebuild_state

# The identity the real server writes on the termination of the run a reset replaces.
RESETTER_IDENTITY = "history-resetter"
# The request id the real server puts on a workflow task started only so that a reset can fail it.
_NO_REQUEST_ID = "emptyUuid"

_UPDATE_EVENTS = {
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED,
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
}
_WORKFLOW_TASK_PENDING = {ET.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, ET.EVENT_TYPE_WORKFLOW_TASK_STARTED}


async def reset_workflow(
    engine: HistoryEngine, namespace_id: str, request: wsr.ResetWorkflowExecutionRequest
) -> str:
    """Reset the run `request` names; returns the new run's id."""
    if not request.request_id:
        raise InvalidArgument("RequestId is not set on request.")
    workflow_id = request.workflow_execution.workflow_id
    async with engine.workflow_id_lock(namespace_id, workflow_id):
        given_run_id = request.workflow_execution.run_id
        base_run_id = await engine.resolve_run_id(namespace_id, workflow_id, given_run_id)
        base = await engine.load(namespace_id, workflow_id, base_run_id)
        reset_point = request.workflow_task_finish_event_id
        kept = _events_before(base.events, reset_point)
        new_state, pending = rebuild_state(base.state, kept)
        current_run_id = await engine.current_run_id(namespace_id, workflow_id) or base_run_id
        new_run_id = str(uuid.uuid4())
        async with engine.update_execution(namespace_id, workflow_id, current_run_id) as ctx:
            new_ctx = ExecutionContext(state=new_state, now=ctx.now, make_current=True)
            _start_new_run(new_ctx, base.state, new_run_id, kept)
            _fail_reset_workflow_task(new_ctx, request.reason, base_run_id, new_run_id)
            _reapply(new_ctx, base.events[reset_point - 1 :], _reapplied_kinds(request))
            _post_reset_signals(new_ctx, request.post_reset_operations, request.identity)
            schedule_workflow_task(engine, new_ctx)
            _resume_pending_work(new_ctx, pending, base.state)
            ctx.next_run = new_ctx
            if ctx.state.running:
                # The new run keeps the children (the real server leaves them running).
                terminate_in_context(ctx, request.reason, None, RESETTER_IDENTITY, children_handed_over=True)
            if current_run_id == base_run_id:
                ctx.state.reset_run_id = new_run_id
            ctx.touch()
        if current_run_id != base_run_id:
            async with engine.update_execution(namespace_id, workflow_id, base_run_id) as base_ctx:
                base_ctx.state.reset_run_id = new_run_id
                base_ctx.touch()
    return new_run_id


def _events_before(events: Sequence[bytes], reset_point: int) -> list[history.HistoryEvent]:
    """The base run's events the new run keeps: those before the reset point."""
    if reset_point <= 1 or reset_point > len(events):
        raise InvalidArgument("Workflow task finish ID must be > 1 && <= workflow last event ID.")
    kept = [history.HistoryEvent.FromString(raw) for raw in events[: reset_point - 1]]
    # The real server rebuilds state up to the event before the reset point, which must end a batch of
    # events; those a reset can work from end with a workflow task scheduled or started (what follows a
    # completed, failed or timed-out task's STARTED event, or a task's SCHEDULED event).
    at_boundary = kept[-1].event_type in _WORKFLOW_TASK_PENDING
    if not at_boundary:
        raise InvalidArgument(
            f"StateRebuilder unable to Rebuild mutable state to event ID: {reset_point - 1}, version: 0, "
            "this event must be at the boundary"
        )
    return kept


def _start_new_run(
    ctx: ExecutionContext, base: ExecutionState, new_run_id: str, kept: list[history.HistoryEvent]
) -> None:
    state = ctx.state
    state.run_id = new_run_id
    state.start_time = ctx.now
    state.execution_time = ctx.now
    state.original_start_time = base.original_start_time or base.start_time
    state.last_reset_time = ctx.now
    state.auto_reset_points = _reset_points_before(base, new_run_id, len(kept) + 1, ctx.now)
    ctx.carry_over(kept)
    ctx.visibility_changed = True


def _reset_points_before(base: ExecutionState, new_run_id: str, reset_point: int, now: float) -> bytes:
    """The base run's reset points that are still in the new run's history, now naming the new run."""
    if not base.auto_reset_points:
        return b""
    points = workflow_pb.ResetPoints.FromString(base.auto_reset_points)
    kept = workflow_pb.ResetPoints()
    for point in points.points:
        if point.run_id == base.run_id and point.first_workflow_task_completed_id < reset_point:
            copy = kept.points.add()
            copy.CopyFrom(point)
            copy.run_id = new_run_id
            copy.create_time.CopyFrom(to_timestamp(now))
    return kept.SerializeToString()


def _fail_reset_workflow_task(ctx: ExecutionContext, reason: str, base_run_id: str, new_run_id: str) -> None:
    """Fail the workflow task the kept history ends in (starting it first if it was only scheduled)."""
    state = ctx.state
    task = state.workflow_task
    assert task is not None, "the reset point is checked to end inside a workflow task"
    if not task.started:
        started = ctx.append(
            ET.EVENT_TYPE_WORKFLOW_TASK_STARTED,
            history.WorkflowTaskStartedEventAttributes(
                scheduled_event_id=task.scheduled_event_id,
                identity=SERVER_IDENTITY,
                request_id=_NO_REQUEST_ID,
                history_size_bytes=state.history_size_bytes,
            ),
        )
        task.started_event_id = started.event_id
    ctx.append(
        ET.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        history.WorkflowTaskFailedEventAttributes(
            scheduled_event_id=task.scheduled_event_id,
            started_event_id=task.started_event_id,
            cause=WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW,
            failure=failure_pb.Failure(
                message=reason, reset_workflow_failure_info=failure_pb.ResetWorkflowFailureInfo()
            ),
            identity=SERVER_IDENTITY,
            base_run_id=base_run_id,
            new_run_id=new_run_id,
        ),
    )
    state.workflow_task = None


def _reapplied_kinds(request: wsr.ResetWorkflowExecutionRequest) -> set[int]:
    """Which of the base run's later events the new run receives again: signals and updates by default."""
    if request.reset_reapply_type == ResetReapplyType.RESET_REAPPLY_TYPE_NONE:
        return set()
    kinds: set[int] = {ET.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED}
    if request.reset_reapply_type != ResetReapplyType.RESET_REAPPLY_TYPE_SIGNAL:
        kinds |= _UPDATE_EVENTS
    excluded = request.reset_reapply_exclude_types
    if ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL in excluded:
        kinds.discard(ET.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
    if ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_UPDATE in excluded:
        kinds -= _UPDATE_EVENTS
    return kinds


def _reapply(ctx: ExecutionContext, later_events: Sequence[bytes], kinds: set[int]) -> None:
    """Signals and updates the base run received after the reset point are delivered again, in their
    order: a signal as it was, an update (admitted or accepted there) as admitted again."""
    for raw in later_events:
        event = history.HistoryEvent.FromString(raw)
        if event.event_type not in kinds:
            continue
        if event.event_type == ET.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signaled = event.workflow_execution_signaled_event_attributes
            ctx.append(ET.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, signaled)
            if signaled.request_id:
                ctx.state.signal_request_ids.append(signaled.request_id)
            continue
        if event.event_type == ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            update_request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        else:
            update_request = event.workflow_execution_update_admitted_event_attributes.request
        ctx.append(
            ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED,
            history.WorkflowExecutionUpdateAdmittedEventAttributes(
                request=update_request, origin=UpdateAdmittedEventOrigin.UPDATE_ADMITTED_EVENT_ORIGIN_REAPPLY
            ),
        )


def _post_reset_signals(
    ctx: ExecutionContext, operations: Sequence[workflow_pb.PostResetOperation], identity: str
) -> None:
    for operation in operations:
        if operation.HasField("signal_workflow"):
            signal = operation.signal_workflow
            signaled = history.WorkflowExecutionSignaledEventAttributes(
                signal_name=signal.signal_name, identity=identity
            )
            if signal.HasField("input"):
                signaled.input.CopyFrom(signal.input)
            if signal.HasField("header"):
                signaled.header.CopyFrom(signal.header)
            ctx.append(ET.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, signaled)


def _resume_pending_work(ctx: ExecutionContext, pending: PendingWork, base: ExecutionState) -> None:
    """Give everything still pending at the reset point its outbox rows again."""
    state = ctx.state
    for info in sorted(state.activities.values(), key=lambda a: a.scheduled_event_id):
        # As on the real server, a pending activity is scheduled anew, from now.
        info.scheduled_time = ctx.now
        schedule_activity(ctx, info)
    for timer in state.timers.values():
        ctx.add_timer(timer_key(timer.timer_id), timer.fire_at)
    for child in state.children.values():
        if not child.run_id:
            ctx.add_timer(f"child_start/{child.initiated_event_id}", ctx.now)
    for initiated_event_id in pending.external_signals:
        ctx.add_timer(f"signal_external/{initiated_event_id}", ctx.now)
    for initiated_event_id in pending.external_cancels:
        ctx.add_timer(f"cancel_external/{initiated_event_id}", ctx.now)
    # The run keeps the deadline the base run had.
    timeout_at = run_timeout_at(state, base.start_time)
    if timeout_at:
        ctx.add_timer("wf_run_timeout", timeout_at)
