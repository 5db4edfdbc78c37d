"""Helpers for the workflow-level API tests: a raw gRPC stub, a worker factory, error-detail unpacking."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import status_pb2
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import message_pb2 as history_pb
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub
from temporalio.client import Client
from temporalio.worker import Worker

from ._api_workflows import ACTIVITIES, WORKFLOWS

M = TypeVar("M", bound=Message)


@contextlib.asynccontextmanager
async def raw_stub(address: str) -> AsyncIterator[WorkflowServiceStub]:
    """A bare WorkflowService stub: no SDK in between, so tests see the server's own codes and details."""
    channel = grpc.aio.insecure_channel(address)
    try:
        yield WorkflowServiceStub(channel)
    finally:
        await channel.close()


def new_worker(client: Client, task_queue: str, *, activities: bool = True, **kwargs: Any) -> Worker:
    """A worker for every test workflow; `activities=False` leaves scheduled activities unpicked."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=ACTIVITIES if activities else [],
        **kwargs,
    )


def start_request(
    workflow_id: str, task_queue: str, workflow_type: str = "WaitWorkflow", **fields: Any
) -> wsr.StartWorkflowExecutionRequest:
    """A valid raw StartWorkflowExecution request in `default` that tests then break one field of."""
    values: dict[str, Any] = {
        "namespace": "default",
        "workflow_id": workflow_id,
        "workflow_type": common_pb.WorkflowType(name=workflow_type),
        "task_queue": taskqueue_pb.TaskQueue(name=task_queue),
        "request_id": str(uuid.uuid4()),
        "identity": "api-tests",
    }
    values.update(fields)
    return wsr.StartWorkflowExecutionRequest(**values)


def status_details(error: grpc.aio.AioRpcError) -> list[Any]:
    """The google.rpc.Status details (packed Any messages) the server attached to an error."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            assert isinstance(value, bytes)
            return list(status_pb2.Status.FromString(value).details)
    return []


def unpack_detail(error: grpc.aio.AioRpcError, message_type: type[M]) -> M:
    """The one detail of `message_type` on `error`; fails the test if the server sent none."""
    found = [detail for detail in status_details(error) if detail.Is(message_type.DESCRIPTOR)]
    assert found, f"no {message_type.DESCRIPTOR.full_name} in details of {error.code()}: {error.details()}"
    message = message_type()
    found[0].Unpack(message)
    return message


def type_names(events: list[history_pb.HistoryEvent]) -> list[str]:
    return [EventType.Name(event.event_type).removeprefix("EVENT_TYPE_") for event in events]


async def full_history(
    stub: WorkflowServiceStub, workflow_id: str, run_id: str = "", namespace: str = "default"
) -> list[history_pb.HistoryEvent]:
    """Every event of a run, following next_page_token with the server's default page size."""
    events: list[history_pb.HistoryEvent] = []
    token = b""
    while True:
        response = await stub.GetWorkflowExecutionHistory(
            wsr.GetWorkflowExecutionHistoryRequest(
                namespace=namespace,
                execution=common_pb.WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                next_page_token=token,
            ),
            timeout=10,
        )
        events.extend(response.history.events)
        token = response.next_page_token
        if not token:
            return events
