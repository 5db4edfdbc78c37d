"""RequestCancelWorkflowExecution and TerminateWorkflowExecution."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.history.v1 import message_pb2 as history

from tempyral.errors import NotFound
from tempyral.history.engine import HistoryEngine
from tempyral.history.ops.close_workflow import terminate_in_context
from tempyral.history.ops.workflow_task_schedule import request_workflow_task


async def request_cancel_workflow(
    engine: HistoryEngine,
    namespace_id: str,
    workflow_id: str,
    run_id: str,
    identity: str,
    reason: str,
    external: tuple[int, common.WorkflowExecution] | None = None,
    links: Sequence[common.Link] = (),
) -> None:
    """`external`: (initiated event id, execution) of a workflow asking through its own command."""
    run_id = await engine.resolve_run_id(namespace_id, workflow_id, run_id)
    async with engine.update_execution(namespace_id, workflow_id, run_id) as ctx:
        state = ctx.state
        if not state.running or state.cancel_requested:
            # Closed, or asked before (maybe by a retry of this very request): nothing new to tell it.
            return
        state.cancel_requested = True
        ctx.append_or_buffer(
            ET.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
            history.WorkflowExecutionCancelRequestedEventAttributes(
                cause=reason,
                identity=identity,
                external_initiated_event_id=external[0] if external else 0,
                external_workflow_execution=external[1] if external else None,
            ),
            links,
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
    links: Sequence[common.Link] = (),
) -> None:
    run_id = await engine.resolve_run_id(namespace_id, workflow_id, run_id)
    async with engine.update_execution(namespace_id, workflow_id, run_id) as ctx:
        state = ctx.state
        if not state.running:
            raise NotFound("workflow execution already completed")
        terminate_in_context(ctx, reason, details, identity, links)
