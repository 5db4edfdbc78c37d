"""SignalWithStartWorkflowExecution: signal the running workflow, or start it with the signal as its first
event after WORKFLOW_EXECUTION_STARTED."""

from __future__ import annotations

from google.protobuf.message import Message
from temporalio.api.enums.v1 import WorkflowIdConflictPolicy
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.history.engine import HistoryEngine
from tempyral.history.execution import ExecutionContext
from tempyral.history.mutable_state import ExecutionState
from tempyral.history.ops.signal import append_signal, signal_workflow
from tempyral.history.ops.start_workflow import start_workflow
from tempyral.namespaces import Namespace

# The start fields a signal-with-start request shares, by name, with StartWorkflowExecutionRequest.
_START_FIELDS = set(wsr.StartWorkflowExecutionRequest.DESCRIPTOR.fields_by_name)


def as_start_request(
    request: wsr.SignalWithStartWorkflowExecutionRequest,
) -> wsr.StartWorkflowExecutionRequest:
    start = wsr.StartWorkflowExecutionRequest()
    for field, value in request.ListFields():
        if field.name not in _START_FIELDS:
            continue
        target = getattr(start, field.name)
        if isinstance(value, Message):
            target.CopyFrom(value)
        elif hasattr(target, "extend"):
            target.extend(value)
        else:
            setattr(start, field.name, value)
    if start.workflow_id_conflict_policy == WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED:
        # Signal-with-start's whole point: a running workflow is signalled, not refused.
        start.workflow_id_conflict_policy = WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
    return start


async def signal_with_start(
    engine: HistoryEngine, namespace: Namespace, request: wsr.SignalWithStartWorkflowExecutionRequest
) -> wsr.SignalWithStartWorkflowExecutionResponse:
    signal_input = request.signal_input if request.HasField("signal_input") else None
    header = request.header if request.HasField("header") else None

    def add_signal(ctx: ExecutionContext) -> None:
        append_signal(
            ctx,
            request.signal_name,
            signal_input,
            header,
            request.identity,
            request.request_id,
            links=request.links,
        )

    async def signal_existing(existing: ExecutionState) -> None:
        signal = wsr.SignalWorkflowExecutionRequest(
            namespace=request.namespace,
            signal_name=request.signal_name,
            identity=request.identity,
            request_id=request.request_id,
            links=request.links,
        )
        signal.workflow_execution.workflow_id = existing.workflow_id
        signal.workflow_execution.run_id = existing.run_id
        if signal_input is not None:
            signal.input.CopyFrom(signal_input)
        if header is not None:
            signal.header.CopyFrom(header)
        await signal_workflow(engine, namespace.id, signal)

    started = await start_workflow(engine, namespace, as_start_request(request), add_signal, signal_existing)
    return wsr.SignalWithStartWorkflowExecutionResponse(run_id=started.run_id, started=started.started)
