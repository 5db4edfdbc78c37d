"""Per-workflow limits on pending work (limit.numPendingActivities.error and
limit.numPendingChildExecutions.error, 2000 by default; 2 and 1 on this module's server): the command
that would exceed one fails the workflow task with INVALID_ARGUMENT "<Cause>: the number of pending ...,
N, has reached the per-workflow limit of L" and WORKFLOW_TASK_FAILED with that cause, as on the real
server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.command.v1 import message_pb2 as command_pb
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import CommandType, EventType, WorkflowTaskFailedCause
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub

from tempyral.testing.servers import ServerProcess
from tests.conftest import SERVER_KIND

from ._api_support import full_history, raw_stub, start_request

LIMITS = ["limit.numPendingActivities.error=2", "limit.numPendingChildExecutions.error=1"]


@pytest.fixture(scope="module")
def limited_server() -> Iterator[ServerProcess]:
    args = [arg for limit in LIMITS for arg in ("--dynamic-config-value", limit)]
    process = ServerProcess(kind=SERVER_KIND, extra_args=args).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def stub(limited_server: ServerProcess) -> AsyncIterator[WorkflowServiceStub]:
    async with raw_stub(limited_server.address) as raw:
        yield raw


def _activity(activity_id: str) -> command_pb.Command:
    return command_pb.Command(
        command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
        schedule_activity_task_command_attributes=command_pb.ScheduleActivityTaskCommandAttributes(
            activity_id=activity_id,
            activity_type=common_pb.ActivityType(name="NobodyRunsThis"),
            task_queue=taskqueue_pb.TaskQueue(name="nobody-polls"),
            start_to_close_timeout=Duration(seconds=10),
        ),
    )


def _child(workflow_id: str) -> command_pb.Command:
    return command_pb.Command(
        command_type=CommandType.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION,
        start_child_workflow_execution_command_attributes=command_pb.StartChildWorkflowExecutionCommandAttributes(
            namespace="default",
            workflow_id=workflow_id,
            workflow_type=common_pb.WorkflowType(name="NobodyRunsThis"),
            task_queue=taskqueue_pb.TaskQueue(name="nobody-polls"),
        ),
    )


@pytest.mark.parametrize(
    ("commands", "cause", "message"),
    [
        (
            [_activity("a"), _activity("b"), _activity("c")],
            WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_PENDING_ACTIVITIES_LIMIT_EXCEEDED,
            "PendingActivitiesLimitExceeded: the number of pending activities, 2, has reached the "
            "per-workflow limit of 2",
        ),
        (
            [_child(f"child-{uuid.uuid4().hex[:8]}"), _child(f"child-{uuid.uuid4().hex[:8]}")],
            WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_PENDING_CHILD_WORKFLOWS_LIMIT_EXCEEDED,
            "PendingChildWorkflowsLimitExceeded: the number of pending child workflow executions, 1, has "
            "reached the per-workflow limit of 1",
        ),
    ],
    ids=["activities", "children"],
)
async def test_one_more_than_the_limit_fails_the_task(
    stub: WorkflowServiceStub, commands: list[command_pb.Command], cause: int, message: str
) -> None:
    workflow_id, task_queue = f"wf-{uuid.uuid4().hex[:8]}", f"tq-{uuid.uuid4().hex[:8]}"
    await stub.StartWorkflowExecution(start_request(workflow_id, task_queue), timeout=10)
    poll = await stub.PollWorkflowTaskQueue(
        wsr.PollWorkflowTaskQueueRequest(
            namespace="default", task_queue=taskqueue_pb.TaskQueue(name=task_queue)
        ),
        timeout=20,
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.RespondWorkflowTaskCompleted(
            wsr.RespondWorkflowTaskCompletedRequest(
                namespace="default", task_token=poll.task_token, commands=commands
            ),
            timeout=10,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details() == message
    failed = (await full_history(stub, workflow_id))[3]
    assert failed.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    assert failed.workflow_task_failed_event_attributes.cause == cause
    assert failed.workflow_task_failed_event_attributes.failure.message == message
    await stub.TerminateWorkflowExecution(
        wsr.TerminateWorkflowExecutionRequest(
            namespace="default", workflow_execution=common_pb.WorkflowExecution(workflow_id=workflow_id)
        ),
        timeout=10,
    )
