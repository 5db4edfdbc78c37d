"""Closing a workflow from outside: RequestCancelWorkflowExecution (delivered to the workflow code),
TerminateWorkflowExecution (reason and details recorded, running activities abandoned) and
DeleteWorkflowExecution (the execution is gone afterwards)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.converter import DataConverter
from temporalio.exceptions import CancelledError, TerminatedError
from temporalio.service import RPCError, RPCStatusCode

from tempyral.testing.servers import ServerProcess
from tests.helpers.eventually import assert_eventually
from tests.helpers.history import event_types

from ._api_support import new_worker, raw_stub
from ._api_workflows import OBSERVED, ActivityRun, ActivityWorkflow, WaitWorkflow


@pytest.fixture
async def stub(server: ServerProcess) -> AsyncIterator[WorkflowServiceStub]:
    async with raw_stub(server.address) as service:
        yield service


async def _until_workflow_task_completed(handle: WorkflowHandle[Any, Any]) -> None:
    """Wait until the worker has run the workflow code once, so it is blocked inside the workflow."""

    async def completed() -> None:
        assert "WORKFLOW_TASK_COMPLETED" in await event_types(handle)

    await assert_eventually(completed)


async def test_cancel_is_delivered_and_workflow_ends_canceled(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    async with new_worker(client, task_queue):
        handle = await client.start_workflow(WaitWorkflow.run, id=workflow_id, task_queue=task_queue)
        await _until_workflow_task_completed(handle)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    assert isinstance(caught.value.cause, CancelledError)
    names = await event_types(handle)
    assert names[4:] == [
        "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_CANCELED",
    ]
    events = (await handle.fetch_history()).events
    assert events[4].workflow_execution_cancel_requested_event_attributes.identity == client.identity
    assert events[-1].workflow_execution_canceled_event_attributes.workflow_task_completed_event_id == (
        events[-2].event_id
    )
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED


async def test_workflow_may_handle_cancel_and_complete(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    # Requested before any worker runs: the request waits in history and reaches the first workflow task.
    handle = await client.start_workflow(WaitWorkflow.run, True, id=workflow_id, task_queue=task_queue)
    await handle.cancel()
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    assert (await event_types(handle))[-1] == "WORKFLOW_EXECUTION_CANCEL_REQUESTED"
    async with new_worker(client, task_queue):
        assert await handle.result() == "saw the cancel"
    assert (await event_types(handle))[-1] == "WORKFLOW_EXECUTION_COMPLETED"
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_repeated_cancel_and_cancel_after_close(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    handle = await client.start_workflow(WaitWorkflow.run, id=workflow_id, task_queue=task_queue)
    await handle.cancel()
    # A second request while the first is pending is accepted but recorded once.
    await handle.cancel()
    assert await event_types(handle) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
    ]
    await handle.terminate(reason="closed first")
    # Cancelling a closed run is a silent no-op on the real server (1.32); terminating it again is not.
    await handle.cancel()
    assert (await event_types(handle))[-1] == "WORKFLOW_EXECUTION_TERMINATED"
    with pytest.raises(RPCError) as caught:
        await handle.terminate(reason="again")
    assert caught.value.status == RPCStatusCode.NOT_FOUND
    assert "already completed" in caught.value.message


async def test_terminate_records_reason_and_details(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    async with new_worker(client, task_queue):
        handle = await client.start_workflow(WaitWorkflow.run, id=workflow_id, task_queue=task_queue)
        await _until_workflow_task_completed(handle)
        await handle.terminate("first detail", {"code": 7}, reason="operator stopped it")
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    assert isinstance(caught.value.cause, TerminatedError)
    assert caught.value.cause.message == "operator stopped it"
    last = (await handle.fetch_history()).events[-1]
    assert last.HasField("workflow_execution_terminated_event_attributes")
    attributes = last.workflow_execution_terminated_event_attributes
    assert attributes.reason == "operator stopped it"
    assert attributes.identity == client.identity
    details = await DataConverter.default.decode(list(attributes.details.payloads))
    assert details == ["first detail", {"code": 7}]
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.TERMINATED
    assert description.close_time is not None


async def test_terminate_abandons_running_activity(client: Client, task_queue: str, workflow_id: str) -> None:
    async with new_worker(client, task_queue):
        handle = await client.start_workflow(
            ActivityWorkflow.run, ActivityRun("wait_until_cancelled"), id=workflow_id, task_queue=task_queue
        )

        async def activity_running() -> None:
            assert workflow_id in OBSERVED.task_tokens
            assert len((await handle.describe()).raw_description.pending_activities) == 1

        await assert_eventually(activity_running)
        await handle.terminate(reason="abandon the activity")

        # The activity's next heartbeat learns the server no longer knows it.
        async def activity_told() -> None:
            details = OBSERVED.cancellations.get(workflow_id)
            assert details is not None and details.not_found

        await assert_eventually(activity_told)
    late = client.get_async_activity_handle(task_token=OBSERVED.task_tokens[workflow_id])
    with pytest.raises(RPCError) as caught:
        await late.complete("too late")
    assert caught.value.status == RPCStatusCode.NOT_FOUND
    # No activity event follows the termination: the attempt's STARTED event is never written.
    names = await event_types(handle)
    assert names[-2:] == ["ACTIVITY_TASK_SCHEDULED", "WORKFLOW_EXECUTION_TERMINATED"]


async def test_delete_removes_a_running_execution(
    client: Client, stub: WorkflowServiceStub, task_queue: str, workflow_id: str
) -> None:
    handle = await client.start_workflow(WaitWorkflow.run, id=workflow_id, task_queue=task_queue)
    execution = common_pb.WorkflowExecution(workflow_id=workflow_id, run_id=handle.result_run_id or "")
    await stub.DeleteWorkflowExecution(
        wsr.DeleteWorkflowExecutionRequest(namespace="default", workflow_execution=execution), timeout=10
    )

    # Deletion may finish asynchronously; afterwards the execution is unknown everywhere.
    async def gone() -> None:
        try:
            await stub.DescribeWorkflowExecution(
                wsr.DescribeWorkflowExecutionRequest(namespace="default", execution=execution), timeout=10
            )
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND
        else:
            raise AssertionError("the deleted execution is still described")

    await assert_eventually(gone, interval=0.2)
    with pytest.raises(RPCError) as by_sdk:
        await handle.describe()
    assert by_sdk.value.status == RPCStatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as history_error:
        await stub.GetWorkflowExecutionHistory(
            wsr.GetWorkflowExecutionHistoryRequest(namespace="default", execution=execution), timeout=10
        )
    assert history_error.value.code() == grpc.StatusCode.NOT_FOUND
    # The id is free again.
    again = await client.start_workflow(WaitWorkflow.run, id=workflow_id, task_queue=task_queue)
    assert again.result_run_id != handle.result_run_id
    await again.terminate()


async def test_delete_of_closed_execution_is_accepted(
    client: Client, stub: WorkflowServiceStub, task_queue: str, workflow_id: str
) -> None:
    # Only acceptance is checked: the real server (1.32) removes an already-closed run 20-60 s later,
    # too slow to wait for here.
    handle = await client.start_workflow(WaitWorkflow.run, id=workflow_id, task_queue=task_queue)
    await handle.terminate(reason="closed before delete")
    execution = common_pb.WorkflowExecution(workflow_id=workflow_id, run_id=handle.result_run_id or "")
    response = await stub.DeleteWorkflowExecution(
        wsr.DeleteWorkflowExecutionRequest(namespace="default", workflow_execution=execution), timeout=10
    )
    assert response == wsr.DeleteWorkflowExecutionResponse()
    missing = common_pb.WorkflowExecution(workflow_id=f"{workflow_id}-missing")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DeleteWorkflowExecution(
            wsr.DeleteWorkflowExecutionRequest(namespace="default", workflow_execution=missing), timeout=10
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
