"""Reading workflows: DescribeWorkflowExecution fields (pending activities included) and
GetWorkflowExecutionHistory paging, long polling, the close-event filter, and the reverse variant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import HistoryEventFilterType, PendingActivityState
from temporalio.api.history.v1 import message_pb2 as history_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.converter import DataConverter

from tempyral.testing.servers import ServerProcess
from tests.helpers.eventually import assert_eventually

from ._api_support import full_history, new_worker, raw_stub, type_names
from ._api_workflows import ActivityRun, ActivityWorkflow, WaitWorkflow

CLOSE_EVENT = HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT


@pytest.fixture
async def stub(server: ServerProcess) -> AsyncIterator[WorkflowServiceStub]:
    async with raw_stub(server.address) as service:
        yield service


def _history_request(workflow_id: str, **fields: object) -> wsr.GetWorkflowExecutionHistoryRequest:
    return wsr.GetWorkflowExecutionHistoryRequest(
        namespace="default", execution=common_pb.WorkflowExecution(workflow_id=workflow_id), **fields
    )


async def _signalled_workflow(
    client: Client, workflow_id: str, task_queue: str, signals: int
) -> WorkflowHandle[Any, Any]:
    """A running workflow with no worker and `signals` signal events: 2 + `signals` events in history."""
    handle = await client.start_workflow(WaitWorkflow.run, id=workflow_id, task_queue=task_queue)
    for number in range(signals):
        await handle.signal(WaitWorkflow.finish, f"signal {number}")
    return handle


async def test_describe_pending_activity_not_yet_picked_up(
    client: Client, stub: WorkflowServiceStub, task_queue: str, workflow_id: str
) -> None:
    # This worker runs workflows only, so the activity stays scheduled.
    async with new_worker(client, task_queue, activities=False):
        handle = await client.start_workflow(
            ActivityWorkflow.run, ActivityRun("wait_until_cancelled"), id=workflow_id, task_queue=task_queue
        )

        async def activity_scheduled() -> None:
            assert (await full_history(stub, workflow_id))[-1].HasField(
                "activity_task_scheduled_event_attributes"
            )

        await assert_eventually(activity_scheduled)
        description = await handle.describe()
        await handle.terminate()
    info = description.raw_description.workflow_execution_info
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert description.workflow_type == "ActivityWorkflow"
    assert description.task_queue == task_queue
    assert description.run_id == handle.result_run_id
    assert description.history_length == 5
    assert info.history_length == 5
    assert info.history_size_bytes > 0
    assert not description.raw_description.HasField("pending_workflow_task")
    [pending] = description.raw_description.pending_activities
    assert pending.activity_id == "1"
    assert pending.activity_type.name == "wait_until_cancelled"
    assert pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
    assert pending.attempt == 1
    assert pending.maximum_attempts == 0  # unlimited


async def test_describe_pending_activity_retrying(client: Client, task_queue: str, workflow_id: str) -> None:
    async with new_worker(client, task_queue):
        handle = await client.start_workflow(
            ActivityWorkflow.run, ActivityRun("fail_twice_then_wait"), id=workflow_id, task_queue=task_queue
        )

        async def third_attempt_heartbeating() -> wsr.DescribeWorkflowExecutionResponse:
            raw = (await handle.describe()).raw_description
            assert len(raw.pending_activities) == 1
            [pending] = raw.pending_activities
            assert pending.attempt == 3
            assert pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            assert pending.heartbeat_details.payloads
            return raw

        raw = await assert_eventually(third_attempt_heartbeating)
        await handle.terminate()
    [pending] = raw.pending_activities
    assert pending.activity_type.name == "fail_twice_then_wait"
    assert pending.last_failure.message == "boom 2"
    assert pending.last_failure.HasField("application_failure_info")
    assert await DataConverter.default.decode(list(pending.heartbeat_details.payloads)) == ["still here"]
    assert pending.HasField("last_started_time") and pending.HasField("last_heartbeat_time")
    # Retried attempts leave no events: history still ends at ACTIVITY_TASK_SCHEDULED.
    assert raw.workflow_execution_info.history_length == 5


async def test_history_paging_reproduces_the_whole_history(
    client: Client, stub: WorkflowServiceStub, task_queue: str, workflow_id: str
) -> None:
    handle = await _signalled_workflow(client, workflow_id, task_queue, signals=10)
    await handle.terminate()
    whole = await full_history(stub, workflow_id)
    assert len(whole) == 13
    pages: list[list[history_pb.HistoryEvent]] = []
    token = b""
    while True:
        response = await stub.GetWorkflowExecutionHistory(
            _history_request(workflow_id, maximum_page_size=3, next_page_token=token), timeout=10
        )
        pages.append(list(response.history.events))
        token = response.next_page_token
        if not token:
            break
        assert len(pages) < 20, "next_page_token never ran out"
    # The real server fills a page with whole write batches, so a page may exceed the size a little, and
    # its last page can be empty.
    assert len(pages) >= 4
    assert all(1 <= len(page) <= 6 for page in pages[:-1])
    assert len(pages[-1]) <= 6
    assert [event for page in pages for event in page] == whole
    assert [event.event_id for event in whole] == list(range(1, 14))


async def test_reverse_history_walks_back_from_the_last_event(
    client: Client, stub: WorkflowServiceStub, task_queue: str, workflow_id: str
) -> None:
    handle = await _signalled_workflow(client, workflow_id, task_queue, signals=6)
    await handle.terminate()
    whole = await full_history(stub, workflow_id)
    backwards: list[history_pb.HistoryEvent] = []
    token = b""
    pages = 0
    while True:
        response = await stub.GetWorkflowExecutionHistoryReverse(
            wsr.GetWorkflowExecutionHistoryReverseRequest(
                namespace="default",
                execution=common_pb.WorkflowExecution(workflow_id=workflow_id),
                maximum_page_size=4,
                next_page_token=token,
            ),
            timeout=10,
        )
        backwards.extend(response.history.events)
        pages += 1
        token = response.next_page_token
        if not token:
            break
        assert pages < 20, "next_page_token never ran out"
    assert pages >= 2
    assert backwards == list(reversed(whole))
    assert type_names(backwards)[0] == "WORKFLOW_EXECUTION_TERMINATED"


async def test_wait_new_event_long_polls_until_an_event_arrives(
    client: Client, stub: WorkflowServiceStub, task_queue: str, workflow_id: str
) -> None:
    handle = await _signalled_workflow(client, workflow_id, task_queue, signals=1)
    # Without a token, a waiting read answers at once with what exists and a token to wait from.
    first = await stub.GetWorkflowExecutionHistory(
        _history_request(workflow_id, wait_new_event=True), timeout=10
    )
    assert type_names(list(first.history.events)) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_EXECUTION_SIGNALED",
    ]
    assert first.next_page_token
    poll = asyncio.ensure_future(
        stub.GetWorkflowExecutionHistory(
            _history_request(workflow_id, wait_new_event=True, next_page_token=first.next_page_token),
            timeout=15,
        )
    )
    done, _ = await asyncio.wait([poll], timeout=0.5)
    assert not done, "the long poll returned before any new event"
    # A long poll that sees nothing new ends before the caller's deadline with an empty page and a token
    # to poll again, rather than failing with DEADLINE_EXCEEDED.
    idle = await stub.GetWorkflowExecutionHistory(
        _history_request(workflow_id, wait_new_event=True, next_page_token=first.next_page_token), timeout=2
    )
    assert not idle.history.events
    assert idle.next_page_token
    await handle.signal(WaitWorkflow.finish, "wake up")
    second = await asyncio.wait_for(poll, timeout=5)
    assert type_names(list(second.history.events)) == ["WORKFLOW_EXECUTION_SIGNALED"]
    assert second.history.events[0].event_id == 4
    await handle.terminate()


async def test_close_event_filter(
    client: Client, stub: WorkflowServiceStub, task_queue: str, workflow_id: str
) -> None:
    handle = await _signalled_workflow(client, workflow_id, task_queue, signals=2)
    # The real server holds even a non-waiting close-event read of a running workflow, and answers with an
    # empty page about a second before the caller's deadline.
    running = await stub.GetWorkflowExecutionHistory(
        _history_request(workflow_id, history_event_filter_type=CLOSE_EVENT), timeout=2
    )
    assert not running.history.events
    assert not running.next_page_token
    # Waiting on the close event is how clients wait for a result: it returns only when the run closes.
    poll = asyncio.ensure_future(
        stub.GetWorkflowExecutionHistory(
            _history_request(workflow_id, wait_new_event=True, history_event_filter_type=CLOSE_EVENT),
            timeout=15,
        )
    )
    done, _ = await asyncio.wait([poll], timeout=0.5)
    assert not done, "the close-event poll returned while the workflow runs"
    await handle.terminate(reason="close it")
    closed = await asyncio.wait_for(poll, timeout=5)
    assert type_names(list(closed.history.events)) == ["WORKFLOW_EXECUTION_TERMINATED"]
    assert closed.history.events[0].event_id == 5
    assert not closed.next_page_token
    again = await stub.GetWorkflowExecutionHistory(
        _history_request(workflow_id, history_event_filter_type=CLOSE_EVENT), timeout=10
    )
    assert list(again.history.events) == list(closed.history.events)
