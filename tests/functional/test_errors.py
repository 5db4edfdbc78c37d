"""Error answers of the workflow-level API through a raw gRPC stub: status codes, the error-detail protos
SDKs decide behaviour from, and messages that name what was wrong.

Messages are checked for key words only (case, spaces and underscores ignored), since our wording may
differ from the real server's.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from temporalio.api.command.v1 import message_pb2 as command_pb
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import CommandType, EventType
from temporalio.api.errordetails.v1 import message_pb2 as errordetails_pb
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub

from tempyral.testing.servers import ServerProcess

from ._api_support import raw_stub, start_request, unpack_detail

LIMIT_BYTES = 2 * 1024 * 1024  # the dev server's blob and memo size limit (DescribeNamespace limits)


@pytest.fixture
async def stub(server: ServerProcess) -> AsyncIterator[WorkflowServiceStub]:
    async with raw_stub(server.address) as service:
        yield service


def _squash(text: str | None) -> str:
    return "".join(ch for ch in (text or "").lower() if ch.isalnum())


async def _rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def _assert_error(error: grpc.aio.AioRpcError, code: grpc.StatusCode, *words: str) -> None:
    assert error.code() == code, f"{error.code()}: {error.details()}"
    message = _squash(error.details())
    for word in words:
        assert _squash(word) in message, f"{word!r} not in {error.details()!r}"


def _execution(workflow_id: str, run_id: str = "") -> common_pb.WorkflowExecution:
    return common_pb.WorkflowExecution(workflow_id=workflow_id, run_id=run_id)


async def test_unknown_namespace(stub: WorkflowServiceStub, workflow_id: str, task_queue: str) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    calls: list[Awaitable[Any]] = [
        stub.StartWorkflowExecution(start_request(workflow_id, task_queue, namespace=missing), timeout=10),
        stub.DescribeNamespace(wsr.DescribeNamespaceRequest(namespace=missing), timeout=10),
        stub.DescribeWorkflowExecution(
            wsr.DescribeWorkflowExecutionRequest(namespace=missing, execution=_execution(workflow_id)),
            timeout=10,
        ),
        stub.GetWorkflowExecutionHistory(
            wsr.GetWorkflowExecutionHistoryRequest(namespace=missing, execution=_execution(workflow_id)),
            timeout=10,
        ),
    ]
    for call in calls:
        error = await _rpc_error(call)
        _assert_error(error, grpc.StatusCode.NOT_FOUND, missing, "not found")
        assert unpack_detail(error, errordetails_pb.NamespaceNotFoundFailure).namespace == missing


async def test_unknown_workflow(stub: WorkflowServiceStub) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    execution = _execution(missing)
    calls: list[Awaitable[Any]] = [
        stub.DescribeWorkflowExecution(
            wsr.DescribeWorkflowExecutionRequest(namespace="default", execution=execution), timeout=10
        ),
        stub.GetWorkflowExecutionHistory(
            wsr.GetWorkflowExecutionHistoryRequest(namespace="default", execution=execution), timeout=10
        ),
        stub.GetWorkflowExecutionHistoryReverse(
            wsr.GetWorkflowExecutionHistoryReverseRequest(namespace="default", execution=execution),
            timeout=10,
        ),
        stub.SignalWorkflowExecution(
            wsr.SignalWorkflowExecutionRequest(
                namespace="default", workflow_execution=execution, signal_name="s", request_id="r"
            ),
            timeout=10,
        ),
        stub.RequestCancelWorkflowExecution(
            wsr.RequestCancelWorkflowExecutionRequest(namespace="default", workflow_execution=execution),
            timeout=10,
        ),
        stub.TerminateWorkflowExecution(
            wsr.TerminateWorkflowExecutionRequest(namespace="default", workflow_execution=execution),
            timeout=10,
        ),
    ]
    for call in calls:
        error = await _rpc_error(call)
        _assert_error(error, grpc.StatusCode.NOT_FOUND, "not found", missing)
        unpack_detail(error, errordetails_pb.NotFoundFailure)


async def test_unknown_or_malformed_run_id(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    await stub.StartWorkflowExecution(start_request(workflow_id, task_queue), timeout=10)
    other_run = str(uuid.uuid4())
    unknown = await _rpc_error(
        stub.DescribeWorkflowExecution(
            wsr.DescribeWorkflowExecutionRequest(
                namespace="default", execution=_execution(workflow_id, other_run)
            ),
            timeout=10,
        )
    )
    _assert_error(unknown, grpc.StatusCode.NOT_FOUND, "not found", other_run)
    malformed = await _rpc_error(
        stub.DescribeWorkflowExecution(
            wsr.DescribeWorkflowExecutionRequest(
                namespace="default", execution=_execution(workflow_id, "not-a-uuid")
            ),
            timeout=10,
        )
    )
    _assert_error(malformed, grpc.StatusCode.INVALID_ARGUMENT, "runid")
    await _terminate(stub, workflow_id)


async def _terminate(stub: WorkflowServiceStub, workflow_id: str) -> None:
    await stub.TerminateWorkflowExecution(
        wsr.TerminateWorkflowExecutionRequest(
            namespace="default", workflow_execution=_execution(workflow_id)
        ),
        timeout=10,
    )


async def test_already_started(stub: WorkflowServiceStub, workflow_id: str, task_queue: str) -> None:
    first_request = start_request(workflow_id, task_queue)
    first = await stub.StartWorkflowExecution(first_request, timeout=10)
    error = await _rpc_error(stub.StartWorkflowExecution(start_request(workflow_id, task_queue), timeout=10))
    _assert_error(error, grpc.StatusCode.ALREADY_EXISTS, "already", workflow_id)
    detail = unpack_detail(error, errordetails_pb.WorkflowExecutionAlreadyStartedFailure)
    assert detail.run_id == first.run_id
    assert detail.start_request_id == first_request.request_id
    await _terminate(stub, workflow_id)


@pytest.mark.parametrize(
    ("field", "word"),
    [
        ("workflow_id", "workflowid"),
        ("workflow_type", "workflowtype"),
        ("task_queue", "taskqueue"),
        ("namespace", "namespace"),
    ],
)
async def test_empty_required_field(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str, field: str, word: str
) -> None:
    request = start_request(workflow_id, task_queue)
    request.ClearField(field)
    error = await _rpc_error(stub.StartWorkflowExecution(request, timeout=10))
    _assert_error(error, grpc.StatusCode.INVALID_ARGUMENT, word)


async def test_workflow_id_too_long(stub: WorkflowServiceStub, task_queue: str) -> None:
    error = await _rpc_error(stub.StartWorkflowExecution(start_request("x" * 2000, task_queue), timeout=10))
    _assert_error(error, grpc.StatusCode.INVALID_ARGUMENT, "workflowid", "length")


@pytest.mark.parametrize(
    ("field", "word"),
    [
        ("workflow_execution_timeout", "executiontimeout"),
        ("workflow_run_timeout", "runtimeout"),
        ("workflow_task_timeout", "tasktimeout"),
        ("workflow_start_delay", "startdelay"),
    ],
)
async def test_negative_durations(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str, field: str, word: str
) -> None:
    request = start_request(workflow_id, task_queue, **{field: duration_pb2.Duration(seconds=-5)})
    error = await _rpc_error(stub.StartWorkflowExecution(request, timeout=10))
    _assert_error(error, grpc.StatusCode.INVALID_ARGUMENT, word)


async def test_huge_durations_are_capped(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    request = start_request(
        workflow_id,
        task_queue,
        workflow_execution_timeout=duration_pb2.Duration(seconds=10**12),
        workflow_run_timeout=duration_pb2.Duration(seconds=10**11),
        workflow_task_timeout=duration_pb2.Duration(seconds=10**6),
    )
    await stub.StartWorkflowExecution(request, timeout=10)
    described = await stub.DescribeWorkflowExecution(
        wsr.DescribeWorkflowExecutionRequest(namespace="default", execution=_execution(workflow_id)),
        timeout=10,
    )
    config = described.execution_config
    hundred_years = 100 * 365 * 86_400
    # The real server caps workflow timeouts at 100 years and the workflow task timeout at 2 minutes.
    assert config.workflow_execution_timeout.seconds == hundred_years
    assert config.workflow_run_timeout.seconds == hundred_years
    assert config.default_workflow_task_timeout.seconds == 120
    await _terminate(stub, workflow_id)


async def test_payload_over_size_limit(stub: WorkflowServiceStub, workflow_id: str, task_queue: str) -> None:
    big = common_pb.Payload(metadata={"encoding": b"binary/plain"}, data=b"x" * (LIMIT_BYTES + 1024))
    as_input = start_request(workflow_id, task_queue, input=common_pb.Payloads(payloads=[big]))
    error = await _rpc_error(stub.StartWorkflowExecution(as_input, timeout=10))
    _assert_error(error, grpc.StatusCode.INVALID_ARGUMENT, "size", "limit")
    as_memo = start_request(workflow_id, task_queue, memo=common_pb.Memo(fields={"big": big}))
    error = await _rpc_error(stub.StartWorkflowExecution(as_memo, timeout=10))
    _assert_error(error, grpc.StatusCode.INVALID_ARGUMENT, "memo", "size", "limit")
    # Nothing was started by either request.
    missing = await _rpc_error(
        stub.DescribeWorkflowExecution(
            wsr.DescribeWorkflowExecutionRequest(namespace="default", execution=_execution(workflow_id)),
            timeout=10,
        )
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND


async def test_unknown_search_attribute(stub: WorkflowServiceStub, workflow_id: str, task_queue: str) -> None:
    attributes = common_pb.SearchAttributes(
        indexed_fields={
            "NoSuchAttribute": common_pb.Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')
        }
    )
    request = start_request(workflow_id, task_queue, search_attributes=attributes)
    error = await _rpc_error(stub.StartWorkflowExecution(request, timeout=10))
    _assert_error(error, grpc.StatusCode.INVALID_ARGUMENT, "search attribute", "NoSuchAttribute")


async def test_malformed_history_page_token(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    await stub.StartWorkflowExecution(start_request(workflow_id, task_queue), timeout=10)
    error = await _rpc_error(
        stub.GetWorkflowExecutionHistory(
            wsr.GetWorkflowExecutionHistoryRequest(
                namespace="default", execution=_execution(workflow_id), next_page_token=b"garbage"
            ),
            timeout=10,
        )
    )
    _assert_error(error, grpc.StatusCode.INVALID_ARGUMENT, "token")
    await _terminate(stub, workflow_id)


async def test_malformed_task_tokens(stub: WorkflowServiceStub) -> None:
    calls: list[Awaitable[Any]] = [
        stub.RespondWorkflowTaskCompleted(
            wsr.RespondWorkflowTaskCompletedRequest(namespace="default", task_token=b"garbage"), timeout=10
        ),
        stub.RespondWorkflowTaskFailed(
            wsr.RespondWorkflowTaskFailedRequest(namespace="default", task_token=b"garbage"), timeout=10
        ),
        stub.RespondActivityTaskCompleted(
            wsr.RespondActivityTaskCompletedRequest(namespace="default", task_token=b"garbage"), timeout=10
        ),
        stub.RecordActivityTaskHeartbeat(
            wsr.RecordActivityTaskHeartbeatRequest(namespace="default", task_token=b"garbage"), timeout=10
        ),
    ]
    for call in calls:
        _assert_error(await _rpc_error(call), grpc.StatusCode.INVALID_ARGUMENT, "task token")
    empty = await _rpc_error(
        stub.RespondWorkflowTaskCompleted(
            wsr.RespondWorkflowTaskCompletedRequest(namespace="default", task_token=b""), timeout=10
        )
    )
    _assert_error(empty, grpc.StatusCode.INVALID_ARGUMENT, "task token")


async def test_stale_workflow_task_token(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    await stub.StartWorkflowExecution(start_request(workflow_id, task_queue), timeout=10)
    task = await stub.PollWorkflowTaskQueue(
        wsr.PollWorkflowTaskQueueRequest(
            namespace="default", task_queue=taskqueue_pb.TaskQueue(name=task_queue), identity="api-tests"
        ),
        timeout=20,
    )
    assert task.workflow_execution.workflow_id == workflow_id
    complete = wsr.RespondWorkflowTaskCompletedRequest(
        namespace="default",
        task_token=task.task_token,
        identity="api-tests",
        commands=[
            command_pb.Command(
                command_type=CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
                complete_workflow_execution_command_attributes=command_pb.CompleteWorkflowExecutionCommandAttributes(),
            )
        ],
    )
    await stub.RespondWorkflowTaskCompleted(complete, timeout=10)
    # The same token again: that task is gone.
    stale = await _rpc_error(stub.RespondWorkflowTaskCompleted(complete, timeout=10))
    _assert_error(stale, grpc.StatusCode.NOT_FOUND, "not found")
    unpack_detail(stale, errordetails_pb.NotFoundFailure)
    failed = await _rpc_error(
        stub.RespondWorkflowTaskFailed(
            wsr.RespondWorkflowTaskFailedRequest(namespace="default", task_token=task.task_token), timeout=10
        )
    )
    assert failed.code() == grpc.StatusCode.NOT_FOUND


async def test_completing_while_a_signal_waits_is_refused_as_unhandled_command(
    stub: WorkflowServiceStub, task_queue: str, workflow_id: str
) -> None:
    """A signal that arrived during the task must be seen before the workflow may close: the completion is
    refused with INVALID_ARGUMENT "UnhandledCommand" (so the worker drops its cached run), the task is
    recorded as failed and a new one delivers the signal."""
    await stub.StartWorkflowExecution(start_request(workflow_id, task_queue))
    poll = await stub.PollWorkflowTaskQueue(
        wsr.PollWorkflowTaskQueueRequest(
            namespace="default", task_queue=taskqueue_pb.TaskQueue(name=task_queue), identity="raw"
        ),
        timeout=20,
    )
    execution = common_pb.WorkflowExecution(workflow_id=workflow_id)
    await stub.SignalWorkflowExecution(
        wsr.SignalWorkflowExecutionRequest(
            namespace="default", workflow_execution=execution, signal_name="late", request_id="r1"
        )
    )
    complete = command_pb.Command(
        command_type=CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
        complete_workflow_execution_command_attributes=command_pb.CompleteWorkflowExecutionCommandAttributes(),
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.RespondWorkflowTaskCompleted(
            wsr.RespondWorkflowTaskCompletedRequest(
                namespace="default", task_token=poll.task_token, identity="raw", commands=[complete]
            )
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == "UnhandledCommand"
    history = await stub.GetWorkflowExecutionHistory(
        wsr.GetWorkflowExecutionHistoryRequest(namespace="default", execution=execution)
    )
    types = [event.event_type for event in history.history.events][3:]
    assert types == [
        EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    ]
    await stub.TerminateWorkflowExecution(
        wsr.TerminateWorkflowExecutionRequest(namespace="default", workflow_execution=execution)
    )
