"""RequestCancelWorkflowExecution and TerminateWorkflowExecution."""

from __future__ import annotations

from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import WorkflowTaskFailedCause
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.history.v1 import message_pb2 as history

from tempyral.errors import NotFound
from tempyral.history.engine import HistoryEngine
from tempyral.history.execution import ExecutionContext
from tempyral.history.ops.close_workflow import close_workflow
from tempyral.history.ops.workflow_task_schedule import request_workflow_task

# The identity the real server writes on events it makes itself.
SERVER_IDENTITY = "history-service"


async def request_cancel_workflow(
    engine: HistoryEngine,
    namespace_id: str,
    workflow_id: str,
    run_id: str,
    request_id: str,
    identity: str,
    reason: str,
) -> None:
    run_id = await engine.resolve_run_id(namespace_id, workflow_id, run_id)
    async with engine.update_execution(namespace_id, workflow_id, run_id) as ctx:
        state = ctx.state
        if not state.running or state.cancel_requested:
            # Closed, or asked before (maybe by a retry of this very request): nothing new to tell it.
            return
        state.cancel_requested = True
        state.cancel_request_id = request_id
        ctx.append_or_buffer(
            ET.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
            history.WorkflowExecutionCancelRequestedEventAttributes(cause=reason, identity=identity),
        )
        request_workflow_task(engine, ctx)


async def terminate_workflow(
    engine: HistoryEngine,
    namespace_id: str,
    workflow_id: str,
    run_id: str,
    reason: str,
    details: common.Payloads | None,
    identity: str,
) -> None:
    run_id = await engine.resolve_run_id(namespace_id, workflow_id, run_id)
    async with engine.update_execution(namespace_id, workflow_id, run_id) as ctx:
        state = ctx.state
        if not state.running:
            raise NotFound("workflow execution already completed")
        fail_in_flight_workflow_task(ctx)
        ctx.flush_buffered_events()
        close_workflow(
            ctx,
            ET.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
            history.WorkflowExecutionTerminatedEventAttributes(
                reason=reason, details=details, identity=identity
            ),
        )


def fail_in_flight_workflow_task(ctx: ExecutionContext) -> None:
    """The run is being closed from outside: a workflow task in flight can no longer complete, and (unless
    transient) is recorded as failed by the forced close, as the real server does."""
    task = ctx.state.workflow_task
    if task is not None and task.started and not task.transient:
        ctx.append(
            ET.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            history.WorkflowTaskFailedEventAttributes(
                scheduled_event_id=task.scheduled_event_id,
                started_event_id=task.started_event_id,
                cause=WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND,
                identity=SERVER_IDENTITY,
            ),
        )
    ctx.state.workflow_task = None
