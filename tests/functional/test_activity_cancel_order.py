"""Cancelling activities that never started, among other commands of one workflow task: each command's
event in order, then the ACTIVITY_TASK_CANCELED events after all of them (as the real server writes them),
then the next workflow task."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.command.v1 import message_pb2 as command_pb
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import CommandType, EventType
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub

from tempyral.testing.servers import ServerProcess

from ._api_support import full_history, raw_stub, start_request


@pytest.fixture
async def stub(server: ServerProcess) -> AsyncIterator[WorkflowServiceStub]:
    async with raw_stub(server.address) as raw:
        yield raw


def _schedule(activity_id: str) -> command_pb.Command:
    return command_pb.Command(
        command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
        schedule_activity_task_command_attributes=command_pb.ScheduleActivityTaskCommandAttributes(
            activity_id=activity_id,
            activity_type=common_pb.ActivityType(name="NobodyRunsThis"),
            task_queue=taskqueue_pb.TaskQueue(name="nobody-polls"),
            start_to_close_timeout=Duration(seconds=10),
        ),
    )


def _cancel(scheduled_event_id: int) -> command_pb.Command:
    return command_pb.Command(
        command_type=CommandType.COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK,
        request_cancel_activity_task_command_attributes=command_pb.RequestCancelActivityTaskCommandAttributes(
            scheduled_event_id=scheduled_event_id
        ),
    )


async def _complete_next_task(
    stub: WorkflowServiceStub, task_queue: str, commands: list[command_pb.Command]
) -> None:
    poll = await stub.PollWorkflowTaskQueue(
        wsr.PollWorkflowTaskQueueRequest(
            namespace="default", task_queue=taskqueue_pb.TaskQueue(name=task_queue)
        ),
        timeout=20,
    )
    await stub.RespondWorkflowTaskCompleted(
        wsr.RespondWorkflowTaskCompletedRequest(
            namespace="default", task_token=poll.task_token, commands=commands
        ),
        timeout=10,
    )


async def test_cancelled_events_follow_the_batch(
    stub: WorkflowServiceStub, task_queue: str, workflow_id: str
) -> None:
    execution = common_pb.WorkflowExecution(workflow_id=workflow_id)
    await stub.StartWorkflowExecution(start_request(workflow_id, task_queue), timeout=10)
    await _complete_next_task(stub, task_queue, [_schedule("a"), _schedule("b")])  # scheduled as 5 and 6
    await stub.SignalWorkflowExecution(
        wsr.SignalWorkflowExecutionRequest(
            namespace="default", workflow_execution=execution, signal_name="go", request_id="go"
        ),
        timeout=10,
    )
    timer = command_pb.Command(
        command_type=CommandType.COMMAND_TYPE_START_TIMER,
        start_timer_command_attributes=command_pb.StartTimerCommandAttributes(
            timer_id="t", start_to_fire_timeout=Duration(seconds=100)
        ),
    )
    await _complete_next_task(stub, task_queue, [_cancel(5), timer, _cancel(6)])
    types = [EventType.Name(event.event_type) for event in await full_history(stub, workflow_id)]
    assert types[9:] == [
        "EVENT_TYPE_WORKFLOW_TASK_COMPLETED",
        "EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED",
        "EVENT_TYPE_TIMER_STARTED",
        "EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED",
        "EVENT_TYPE_ACTIVITY_TASK_CANCELED",
        "EVENT_TYPE_ACTIVITY_TASK_CANCELED",
        "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
    ]
    await stub.TerminateWorkflowExecution(
        wsr.TerminateWorkflowExecutionRequest(namespace="default", workflow_execution=execution), timeout=10
    )
