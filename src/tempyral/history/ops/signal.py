"""SignalWorkflowExecution: a signal event (deduplicated by request id) and a workflow task to deliver it."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import message_pb2 as history
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.errors import NotFound
from tempyral.history.engine import HistoryEngine
from tempyral.history.execution import ExecutionContext
from tempyral.history.ops.workflow_task_schedule import request_workflow_task

# Request ids remembered per run to drop retried signals; the oldest are forgotten first.
MAX_REMEMBERED_SIGNAL_REQUESTS = 1000


async def signal_workflow(
    engine: HistoryEngine,
    namespace_id: str,
    request: wsr.SignalWorkflowExecutionRequest,
    external: common.WorkflowExecution | None = None,
) -> None:
    """Signal a run; `external` names the workflow whose SignalExternalWorkflowExecution sent it."""
    execution = request.workflow_execution
    run_id = await engine.resolve_run_id(namespace_id, execution.workflow_id, execution.run_id)
    async with engine.update_execution(
        namespace_id, execution.workflow_id, run_id, count_limit_before=True
    ) as ctx:
        state = ctx.state
        if not state.running:
            raise NotFound("workflow execution already completed")
        if request.request_id:
            if request.request_id in state.signal_request_ids:
                return
            state.signal_request_ids.append(request.request_id)
            del state.signal_request_ids[:-MAX_REMEMBERED_SIGNAL_REQUESTS]
        append_signal(
            ctx,
            request.signal_name,
            request.input if request.HasField("input") else None,
            request.header if request.HasField("header") else None,
            request.identity,
            request.request_id,
            external,
            request.links,
        )
        request_workflow_task(engine, ctx)


def append_signal(
    ctx: ExecutionContext,
    name: str,
    signal_input: common.Payloads | None,
    header: common.Header | None,
    identity: str,
    request_id: str,
    external: common.WorkflowExecution | None = None,
    links: Sequence[common.Link] = (),
) -> None:
    attributes = history.WorkflowExecutionSignaledEventAttributes(
        signal_name=name, identity=identity, request_id=request_id, external_workflow_execution=external
    )
    if signal_input is not None:
        attributes.input.CopyFrom(signal_input)
    if header is not None:
        attributes.header.CopyFrom(header)
    ctx.append_or_buffer(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, attributes, links)
