"""Helpers for the workflow-update tests: a worker factory, history slicing, and a raw workflow-task poller
that answers update requests with protocol messages the way the SDK's worker does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import any_pb2
from temporalio.api.command.v1 import message_pb2 as command_pb
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import CommandType, EventType
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage as Stage
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.history.v1 import message_pb2 as history_pb
from temporalio.api.protocol.v1 import message_pb2 as protocol_pb
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb
from temporalio.api.update.v1 import message_pb2 as update_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from ._update_workflows import ACTIVITIES, WORKFLOWS

RAW_IDENTITY = "raw-update-poller"


def new_update_worker(client: Client, task_queue: str) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES)


def names(events: list[history_pb.HistoryEvent]) -> list[str]:
    return [EventType.Name(event.event_type).removeprefix("EVENT_TYPE_") for event in events]


async def history(handle: WorkflowHandle[Any, Any]) -> list[history_pb.HistoryEvent]:
    return list((await handle.fetch_history()).events)


def of_type(events: list[history_pb.HistoryEvent], name: str) -> list[history_pb.HistoryEvent]:
    return [event for event, event_name in zip(events, names(events), strict=True) if event_name == name]


async def poll_update_stage(
    stub: WorkflowServiceStub,
    workflow_id: str,
    update_id: str,
    wait_for: Stage.ValueType = Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED,
) -> int:
    """The update's current lifecycle stage: an ADMITTED or unspecified wait policy answers at once."""
    response = await stub.PollWorkflowExecutionUpdate(
        wsr.PollWorkflowExecutionUpdateRequest(
            namespace="default",
            update_ref=update_pb.UpdateRef(
                workflow_execution=common_pb.WorkflowExecution(workflow_id=workflow_id), update_id=update_id
            ),
            identity=RAW_IDENTITY,
            wait_policy=update_pb.WaitPolicy(lifecycle_stage=wait_for),
        ),
        timeout=10,
    )
    return int(response.stage)


async def poll_workflow_task(stub: WorkflowServiceStub, task_queue: str) -> wsr.PollWorkflowTaskQueueResponse:
    task: wsr.PollWorkflowTaskQueueResponse = await stub.PollWorkflowTaskQueue(
        wsr.PollWorkflowTaskQueueRequest(
            namespace="default", task_queue=taskqueue_pb.TaskQueue(name=task_queue), identity=RAW_IDENTITY
        ),
        timeout=20,
    )
    assert task.task_token, "no workflow task within the long poll"
    return task


def request_of(message: protocol_pb.Message) -> update_pb.Request:
    request = update_pb.Request()
    assert message.body.Unpack(request), message.body.type_url
    return request


def _packed(body: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(body)
    return packed


def _protocol_command(message_id: str) -> command_pb.Command:
    return command_pb.Command(
        command_type=CommandType.COMMAND_TYPE_PROTOCOL_MESSAGE,
        protocol_message_command_attributes=command_pb.ProtocolMessageCommandAttributes(
            message_id=message_id
        ),
    )


async def respond(
    stub: WorkflowServiceStub,
    task: wsr.PollWorkflowTaskQueueResponse,
    messages: Sequence[protocol_pb.Message] = (),
    commands: Sequence[command_pb.Command] = (),
    discard_capability: bool = False,
) -> wsr.RespondWorkflowTaskCompletedResponse:
    request = wsr.RespondWorkflowTaskCompletedRequest(
        namespace="default",
        task_token=task.task_token,
        identity=RAW_IDENTITY,
        messages=list(messages),
        commands=list(commands),
    )
    if discard_capability:
        # The SDK always sets this; without it the real server keeps a rejected speculative task whose
        # history carried command events.
        request.capabilities.discard_speculative_workflow_task_with_events = True
    response: wsr.RespondWorkflowTaskCompletedResponse = await stub.RespondWorkflowTaskCompleted(
        request, timeout=10
    )
    return response


async def accept_and_complete(
    stub: WorkflowServiceStub,
    task: wsr.PollWorkflowTaskQueueResponse,
    message: protocol_pb.Message,
    result: common_pb.Payload,
) -> wsr.RespondWorkflowTaskCompletedResponse:
    """Answer like the SDK: Acceptance + Response messages, each named by a PROTOCOL_MESSAGE command."""
    request = request_of(message)
    accept_id, complete_id = f"{message.id}/accept", f"{message.id}/complete"
    acceptance = update_pb.Acceptance(
        accepted_request_message_id=message.id,
        accepted_request_sequencing_event_id=message.event_id,
        accepted_request=request,
    )
    response = update_pb.Response(
        meta=request.meta, outcome=update_pb.Outcome(success=common_pb.Payloads(payloads=[result]))
    )
    return await respond(
        stub,
        task,
        messages=[
            protocol_pb.Message(
                id=accept_id, protocol_instance_id=message.protocol_instance_id, body=_packed(acceptance)
            ),
            protocol_pb.Message(
                id=complete_id, protocol_instance_id=message.protocol_instance_id, body=_packed(response)
            ),
        ],
        commands=[_protocol_command(accept_id), _protocol_command(complete_id)],
    )


async def reject(
    stub: WorkflowServiceStub,
    task: wsr.PollWorkflowTaskQueueResponse,
    message: protocol_pb.Message,
    reason: str,
    discard_capability: bool = False,
) -> wsr.RespondWorkflowTaskCompletedResponse:
    """Answer like the SDK's failed validator: one Rejection message and no commands."""
    rejection = update_pb.Rejection(
        rejected_request_message_id=message.id,
        rejected_request_sequencing_event_id=message.event_id,
        rejected_request=request_of(message),
        failure=failure_pb.Failure(
            message=reason, application_failure_info=failure_pb.ApplicationFailureInfo(type="Rejected")
        ),
    )
    return await respond(
        stub,
        task,
        messages=[
            protocol_pb.Message(
                id=f"{message.id}/reject",
                protocol_instance_id=message.protocol_instance_id,
                body=_packed(rejection),
            )
        ],
        discard_capability=discard_capability,
    )
