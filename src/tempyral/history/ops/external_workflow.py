"""SignalExternalWorkflowExecution and RequestCancelExternalWorkflowExecution commands.

The command writes an INITIATED event and an outbox row; the row delivers the signal or cancel request
to the target run, then records the outcome in the sender. Deliveries are idempotent: a signal carries a
request id derived from the initiating event, and a second cancel request is a no-op.
"""

from __future__ import annotations

from collections.abc import Awaitable

from google.protobuf.message import Message
from temporalio.api.command.v1 import message_pb2 as command_pb
from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import CancelExternalWorkflowExecutionFailedCause as CancelCause
from temporalio.api.enums.v1 import SignalExternalWorkflowExecutionFailedCause as SignalCause
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.history.v1 import message_pb2 as history
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.errors import NotFound
from tempyral.history.engine import HistoryEngine
from tempyral.history.execution import ExecutionContext
from tempyral.history.ops.cancel_terminate import request_cancel_workflow
from tempyral.history.ops.close_workflow import SERVER_IDENTITY
from tempyral.history.ops.signal import signal_workflow
from tempyral.history.ops.workflow_task_schedule import request_workflow_task
from tempyral.history.proto_presence import copy_present
from tempyral.matching.task_queue import TaskRef

_SIGNAL_TARGET_NOT_FOUND = (
    SignalCause.SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND
)
_CANCEL_TARGET_NOT_FOUND = (
    CancelCause.CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND
)


def initiate_signal(
    ctx: ExecutionContext,
    attributes: command_pb.SignalExternalWorkflowExecutionCommandAttributes,
    completed_event_id: int,
) -> None:
    initiated = history.SignalExternalWorkflowExecutionInitiatedEventAttributes(
        workflow_task_completed_event_id=completed_event_id,
        namespace=ctx.state.namespace_name,
        namespace_id=ctx.state.namespace_id,
        workflow_execution=attributes.execution,
        signal_name=attributes.signal_name,
        control=attributes.control,
        child_workflow_only=attributes.child_workflow_only,
    )
    copy_present(attributes, initiated, "input", "header")
    event = ctx.append(ET.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, initiated)
    ctx.add_timer(f"signal_external/{event.event_id}", ctx.now)


def initiate_cancel(
    ctx: ExecutionContext,
    attributes: command_pb.RequestCancelExternalWorkflowExecutionCommandAttributes,
    completed_event_id: int,
) -> None:
    initiated = history.RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(
        workflow_task_completed_event_id=completed_event_id,
        namespace=ctx.state.namespace_name,
        namespace_id=ctx.state.namespace_id,
        workflow_execution=common.WorkflowExecution(
            workflow_id=attributes.workflow_id, run_id=attributes.run_id
        ),
        control=attributes.control,
        child_workflow_only=attributes.child_workflow_only,
        reason=attributes.reason,
    )
    event = ctx.append(ET.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED, initiated)
    ctx.add_timer(f"cancel_external/{event.event_id}", ctx.now)


async def deliver_signal(engine: HistoryEngine, ref: TaskRef, initiated_event_id: int) -> None:
    event = await _initiated(engine, ref, initiated_event_id)
    initiated = event.signal_external_workflow_execution_initiated_event_attributes
    target = initiated.workflow_execution
    request = wsr.SignalWorkflowExecutionRequest(
        workflow_execution=target,
        signal_name=initiated.signal_name,
        # Derived from the initiating event: a second delivery after a crash is recognised and dropped.
        request_id=f"{ref.run_id}:{initiated_event_id}",
        identity=SERVER_IDENTITY,
    )
    copy_present(initiated, request, "input", "header")
    sender = common.WorkflowExecution(workflow_id=ref.workflow_id, run_id=ref.run_id)
    delivered = await _deliver(signal_workflow(engine, ref.namespace_id, request, external=sender))
    if delivered:
        await _record(
            engine,
            ref,
            f"signal_external/{initiated_event_id}",
            ET.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED,
            history.ExternalWorkflowExecutionSignaledEventAttributes(
                initiated_event_id=initiated_event_id,
                namespace=initiated.namespace,
                namespace_id=initiated.namespace_id,
                workflow_execution=target,
                control=initiated.control,
            ),
        )
    else:
        await _record(
            engine,
            ref,
            f"signal_external/{initiated_event_id}",
            ET.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
            history.SignalExternalWorkflowExecutionFailedEventAttributes(
                cause=_SIGNAL_TARGET_NOT_FOUND,
                namespace=initiated.namespace,
                namespace_id=initiated.namespace_id,
                workflow_execution=target,
                initiated_event_id=initiated_event_id,
                control=initiated.control,
            ),
        )


async def deliver_cancel(engine: HistoryEngine, ref: TaskRef, initiated_event_id: int) -> None:
    event = await _initiated(engine, ref, initiated_event_id)
    initiated = event.request_cancel_external_workflow_execution_initiated_event_attributes
    target = initiated.workflow_execution
    sender = common.WorkflowExecution(workflow_id=ref.workflow_id, run_id=ref.run_id)
    delivered = await _deliver(
        request_cancel_workflow(
            engine,
            ref.namespace_id,
            target.workflow_id,
            target.run_id,
            SERVER_IDENTITY,
            initiated.reason,
            external=(initiated_event_id, sender),
        )
    )
    if delivered:
        await _record(
            engine,
            ref,
            f"cancel_external/{initiated_event_id}",
            ET.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED,
            history.ExternalWorkflowExecutionCancelRequestedEventAttributes(
                initiated_event_id=initiated_event_id,
                namespace=initiated.namespace,
                namespace_id=initiated.namespace_id,
                workflow_execution=target,
            ),
        )
    else:
        await _record(
            engine,
            ref,
            f"cancel_external/{initiated_event_id}",
            ET.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED,
            history.RequestCancelExternalWorkflowExecutionFailedEventAttributes(
                cause=_CANCEL_TARGET_NOT_FOUND,
                namespace=initiated.namespace,
                namespace_id=initiated.namespace_id,
                workflow_execution=target,
                initiated_event_id=initiated_event_id,
                control=initiated.control,
            ),
        )


async def _record(
    engine: HistoryEngine, ref: TaskRef, row_key: str, event_type: int, attributes: Message
) -> None:
    """Record a delivery's outcome in the sending run (if still open), done with its outbox row."""
    async with engine.update_execution(ref.namespace_id, ref.workflow_id, ref.run_id) as ctx:
        ctx.delete_task(row_key)
        if ctx.state.running:
            ctx.append_or_buffer(event_type, attributes)
            request_workflow_task(engine, ctx)


async def _initiated(engine: HistoryEngine, ref: TaskRef, initiated_event_id: int) -> history.HistoryEvent:
    entry = await engine.load(ref.namespace_id, ref.workflow_id, ref.run_id)
    return history.HistoryEvent.FromString(entry.events[initiated_event_id - 1])


async def _deliver(delivery: Awaitable[None]) -> bool:
    """Run a delivery; False if its target does not exist (or has already closed, for signals)."""
    try:
        await delivery
    except NotFound:
        return False
    return True
