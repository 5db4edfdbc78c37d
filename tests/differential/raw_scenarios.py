"""Differential scenarios that play the worker by hand over raw gRPC: poll, answer late, twice, or never.

They show what the SDK worker hides: poll response fields, transient workflow-task events, task-token errors,
and the status codes/messages/details of invalid requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration
from temporalio.api.command.v1 import (
    Command,
    CompleteWorkflowExecutionCommandAttributes,
    ScheduleActivityTaskCommandAttributes,
    StartTimerCommandAttributes,
)
from temporalio.api.common.v1 import ActivityType, WorkflowType
from temporalio.api.enums.v1 import CommandType, WorkflowTaskFailedCause
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.taskqueue.v1 import StickyExecutionAttributes, TaskQueue
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tests.differential.harness import NAMESPACE, Ctx, Scenario, execution, json_payloads, outcome
from tests.differential.normalize import normalize_history
from tests.helpers.eventually import assert_eventually

RAW_WORKFLOW = "RawWorkflow"


def _complete_command(result: str = "raw done") -> Command:
    return Command(
        command_type=CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
        complete_workflow_execution_command_attributes=CompleteWorkflowExecutionCommandAttributes(
            result=json_payloads(result)
        ),
    )


def _note_poll(ctx: Ctx, key: str, response: Any) -> None:
    """Note a poll response's fields; its history (if any) as normalized events."""
    copy = type(response)()
    copy.CopyFrom(response)
    if copy.DESCRIPTOR.fields_by_name.get("history") is not None:
        events = list(copy.history.events)
        copy.ClearField("history")
        ctx.note(key + ".history", normalize_history(events, ctx.names))
    ctx.note(key, copy)


async def _note_stored_history(ctx: Ctx, handle: Any, key: str) -> None:
    """Note what GetWorkflowExecutionHistory returns right now (transient events are not in it)."""
    history = await handle.fetch_history()
    ctx.note(key + ".history", normalize_history(list(history.events), ctx.names))


async def _start(ctx: Ctx, workflow_id: str, task_timeout: float = 10.0) -> Any:
    return await ctx.client.start_workflow(
        RAW_WORKFLOW,
        "in",
        id=workflow_id,
        task_queue=ctx.task_queue,
        task_timeout=timedelta(seconds=task_timeout),
    )


async def _respond_completed(ctx: Ctx, key: str, token: bytes, commands: list[Command]) -> Any:
    return await ctx.call(
        key,
        ctx.stub.RespondWorkflowTaskCompleted,
        wsr.RespondWorkflowTaskCompletedRequest(
            namespace=NAMESPACE, task_token=token, commands=commands, identity="raw-poller"
        ),
    )


async def poll_responses(ctx: Ctx) -> None:
    """A hand-played workflow with one activity; notes every poll/respond answer and stale-token errors."""
    handle = await _start(ctx, ctx.wf_id())
    first = await ctx.poll_workflow_task()
    _note_poll(ctx, "poll_workflow_task_1", first)
    schedule = Command(
        command_type=CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
        schedule_activity_task_command_attributes=ScheduleActivityTaskCommandAttributes(
            activity_id="act-1",
            activity_type=ActivityType(name="RawActivity"),
            task_queue=TaskQueue(name=ctx.task_queue, kind=1),
            input=json_payloads("act-in"),
            start_to_close_timeout=Duration(seconds=10),
        ),
    )
    await _respond_completed(ctx, "respond_workflow_task_completed_1", first.task_token, [schedule])
    await _respond_completed(ctx, "stale_workflow_task_token", first.task_token, [schedule])

    activity_task = await ctx.poll_activity_task()
    _note_poll(ctx, "poll_activity_task", activity_task)
    completed = wsr.RespondActivityTaskCompletedRequest(
        namespace=NAMESPACE,
        task_token=activity_task.task_token,
        result=json_payloads("act-out"),
        identity="raw",
    )
    await ctx.call("respond_activity_task_completed", ctx.stub.RespondActivityTaskCompleted, completed)
    await ctx.call("stale_activity_task_token", ctx.stub.RespondActivityTaskCompleted, completed)

    second = await ctx.poll_workflow_task()
    _note_poll(ctx, "poll_workflow_task_2", second)
    await _respond_completed(
        ctx, "respond_workflow_task_completed_2", second.task_token, [_complete_command()]
    )
    ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def terminated_during_workflow_task(ctx: Ctx) -> None:
    handle = await _start(ctx, ctx.wf_id())
    task = await ctx.poll_workflow_task()
    await handle.terminate("terminated mid-task")
    await _respond_completed(ctx, "respond_after_terminate", task.task_token, [_complete_command()])
    ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def workflow_task_failure_raw(ctx: Ctx) -> None:
    """Fail the workflow task twice by hand, then complete attempt 3: shows transient events."""
    handle = await _start(ctx, ctx.wf_id())
    for attempt in (1, 2):
        task = await ctx.poll_workflow_task()
        _note_poll(ctx, f"poll_attempt_{attempt}", task)
        await ctx.call(
            f"respond_failed_{attempt}",
            ctx.stub.RespondWorkflowTaskFailed,
            wsr.RespondWorkflowTaskFailedRequest(
                namespace=NAMESPACE,
                task_token=task.task_token,
                cause=WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
                failure=Failure(
                    message=f"raw failure {attempt}",
                    application_failure_info=ApplicationFailureInfo(type="RawError"),
                ),
                identity="raw-poller",
            ),
        )
        await _note_stored_history(ctx, handle, f"stored_history_after_failure_{attempt}")
    task = await ctx.poll_workflow_task()
    _note_poll(ctx, "poll_attempt_3", task)
    await _respond_completed(ctx, "respond_completed_3", task.task_token, [_complete_command()])
    ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def workflow_task_timeout(ctx: Ctx) -> None:
    """A worker takes the first task and never answers; task timeout 1s."""
    handle = await _start(ctx, ctx.wf_id(), task_timeout=1.0)
    await ctx.poll_workflow_task()  # and never answer it

    async def second_attempt() -> None:
        description = await handle.describe()
        assert description.raw_description.pending_workflow_task.attempt == 2

    await assert_eventually(second_attempt, timeout=20)
    await _note_stored_history(ctx, handle, "stored_history_before_retry_poll")
    retried = await ctx.poll_workflow_task()
    _note_poll(ctx, "poll_after_timeout", retried)
    await _respond_completed(ctx, "respond_completed_2", retried.task_token, [_complete_command()])
    ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


def _timer_command(seconds: float) -> Command:
    return Command(
        command_type=CommandType.COMMAND_TYPE_START_TIMER,
        start_timer_command_attributes=StartTimerCommandAttributes(
            timer_id="t1", start_to_fire_timeout=Duration(nanos=int(seconds * 1e9))
        ),
    )


async def _respond_sticky(ctx: Ctx, key: str, token: bytes, sticky_timeout: float) -> None:
    """Complete a task with a timer command and ask for later tasks on a sticky queue."""
    sticky = StickyExecutionAttributes(
        worker_task_queue=TaskQueue(name=ctx.task_queue + "-sticky", kind=2, normal_name=ctx.task_queue),
        schedule_to_start_timeout=Duration(seconds=int(sticky_timeout)),
    )
    await ctx.call(
        key,
        ctx.stub.RespondWorkflowTaskCompleted,
        wsr.RespondWorkflowTaskCompletedRequest(
            namespace=NAMESPACE,
            task_token=token,
            commands=[_timer_command(0.5)],
            sticky_attributes=sticky,
            identity="raw-poller",
        ),
    )


async def sticky_poll(ctx: Ctx) -> None:
    """The second task goes to the sticky queue, whose poller is waiting: a partial history."""
    handle = await _start(ctx, ctx.wf_id())
    first = await ctx.poll_workflow_task()
    sticky_request = wsr.PollWorkflowTaskQueueRequest(
        namespace=NAMESPACE,
        task_queue=TaskQueue(name=ctx.task_queue + "-sticky", kind=2, normal_name=ctx.task_queue),
        identity="raw-poller",
    )
    sticky_poll_call = asyncio.ensure_future(ctx.stub.PollWorkflowTaskQueue(sticky_request, timeout=30))
    await _respond_sticky(ctx, "respond_with_sticky_attributes", first.task_token, sticky_timeout=10)
    second = await sticky_poll_call
    _note_poll(ctx, "poll_sticky", second)
    await _respond_completed(ctx, "respond_completed_sticky", second.task_token, [_complete_command()])
    ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def sticky_timeout(ctx: Ctx, poll_sticky_once: bool = False) -> None:
    """Nobody polls the sticky queue (sticky schedule-to-start 1s): the task returns to the normal queue."""
    handle = await _start(ctx, ctx.wf_id())
    first = await ctx.poll_workflow_task()
    if poll_sticky_once:
        # A poll that gives up at once: the server has now seen a poller on the sticky queue.
        sticky_request = wsr.PollWorkflowTaskQueueRequest(
            namespace=NAMESPACE,
            task_queue=TaskQueue(name=ctx.task_queue + "-sticky", kind=2, normal_name=ctx.task_queue),
            identity="raw-poller",
        )
        await ctx.call("poll_with_0.3s_deadline", ctx.stub.PollWorkflowTaskQueue, sticky_request, timeout=0.3)
        # A poll the client abandons after 0.3 s.
        abandoned = asyncio.ensure_future(ctx.stub.PollWorkflowTaskQueue(sticky_request, timeout=10))
        await asyncio.sleep(0.3)
        abandoned.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await abandoned
    await _respond_sticky(ctx, "respond_with_sticky_attributes", first.task_token, sticky_timeout=1)
    second = await ctx.poll_workflow_task()
    _note_poll(ctx, "poll_normal_after_sticky_unavailable", second)
    await _respond_completed(ctx, "respond_completed", second.task_token, [_complete_command()])
    ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def sticky_timeout_after_poll(ctx: Ctx) -> None:
    await sticky_timeout(ctx, poll_sticky_once=True)


def _start_request(ctx: Ctx, **overrides: Any) -> wsr.StartWorkflowExecutionRequest:
    fields: dict[str, Any] = {
        "namespace": NAMESPACE,
        "workflow_id": ctx.wf_id("-probe"),
        "workflow_type": WorkflowType(name=RAW_WORKFLOW),
        "task_queue": TaskQueue(name=ctx.task_queue),
        "identity": "raw",
        "request_id": str(uuid.uuid4()),
    }
    fields.update(overrides)
    return wsr.StartWorkflowExecutionRequest(**fields)


async def error_probes(ctx: Ctx) -> None:
    stub = ctx.stub
    await ctx.call(
        "describe_unknown_namespace",
        stub.DescribeNamespace,
        wsr.DescribeNamespaceRequest(namespace="no-such-namespace"),
    )
    await ctx.call(
        "start_in_unknown_namespace",
        stub.StartWorkflowExecution,
        _start_request(ctx, namespace="no-such-namespace"),
    )
    await ctx.call(
        "malformed_activity_task_token",
        stub.RespondActivityTaskCompleted,
        wsr.RespondActivityTaskCompletedRequest(namespace=NAMESPACE, task_token=b"garbage", identity="raw"),
    )
    await ctx.call(
        "malformed_workflow_task_token",
        stub.RespondWorkflowTaskCompleted,
        wsr.RespondWorkflowTaskCompletedRequest(namespace=NAMESPACE, task_token=b"garbage", identity="raw"),
    )
    await ctx.call("start_first", stub.StartWorkflowExecution, _start_request(ctx))
    await ctx.call("start_running_workflow_id", stub.StartWorkflowExecution, _start_request(ctx))
    await ctx.call(
        "describe_unknown_workflow",
        stub.DescribeWorkflowExecution,
        wsr.DescribeWorkflowExecutionRequest(namespace=NAMESPACE, execution=execution("no-such-workflow")),
    )
    await ctx.call(
        "history_of_unknown_workflow",
        stub.GetWorkflowExecutionHistory,
        wsr.GetWorkflowExecutionHistoryRequest(namespace=NAMESPACE, execution=execution("no-such-workflow")),
    )
    await ctx.call(
        "signal_unknown_workflow",
        stub.SignalWorkflowExecution,
        wsr.SignalWorkflowExecutionRequest(
            namespace=NAMESPACE,
            workflow_execution=execution("no-such-workflow"),
            signal_name="s",
            identity="raw",
        ),
    )
    await ctx.call(
        "terminate_unknown_workflow",
        stub.TerminateWorkflowExecution,
        wsr.TerminateWorkflowExecutionRequest(
            namespace=NAMESPACE, workflow_execution=execution("no-such-workflow")
        ),
    )
    await ctx.call(
        "negative_execution_timeout",
        stub.StartWorkflowExecution,
        _start_request(ctx, workflow_id=ctx.wf_id("-neg"), workflow_execution_timeout=Duration(seconds=-1)),
    )
    await ctx.call("empty_workflow_id", stub.StartWorkflowExecution, _start_request(ctx, workflow_id=""))
    await ctx.call(
        "empty_task_queue",
        stub.StartWorkflowExecution,
        _start_request(ctx, workflow_id=ctx.wf_id("-notq"), task_queue=TaskQueue(name="")),
    )
    await ctx.call(
        "empty_workflow_type",
        stub.StartWorkflowExecution,
        _start_request(ctx, workflow_id=ctx.wf_id("-notype"), workflow_type=WorkflowType(name="")),
    )
    # Terminate the probe workflow so it does not linger (its task is never polled).
    await ctx.client.get_workflow_handle(ctx.wf_id("-probe")).terminate("probe done")
    await ctx.call(
        "terminate_closed_workflow",
        stub.TerminateWorkflowExecution,
        wsr.TerminateWorkflowExecutionRequest(
            namespace=NAMESPACE, workflow_execution=execution(ctx.wf_id("-probe"))
        ),
    )


async def system_info(ctx: Ctx) -> None:
    await ctx.call("get_system_info", ctx.stub.GetSystemInfo, wsr.GetSystemInfoRequest())


RAW_SCENARIOS = [
    Scenario(
        "00_poll_responses",
        "hand-played workflow: poll WFT, schedule activity, poll activity, complete; stale tokens",
        poll_responses,
    ),
    Scenario(
        "16_terminated_during_workflow_task",
        "terminate while a raw poller holds the WFT",
        terminated_during_workflow_task,
    ),
    Scenario(
        "18b_workflow_task_failure_raw",
        "RespondWorkflowTaskFailed on attempts 1 and 2, complete on attempt 3",
        workflow_task_failure_raw,
    ),
    Scenario(
        "21_workflow_task_timeout",
        "raw poller takes WFT and never answers (task_timeout=1s)",
        workflow_task_timeout,
    ),
    Scenario("22a_sticky_poll", "raw worker sets sticky attributes and polls its sticky queue", sticky_poll),
    Scenario(
        "22b_sticky_timeout",
        "raw worker sets sticky attributes (schedule_to_start 1s) but never polls the sticky queue",
        sticky_timeout,
    ),
    Scenario(
        "22c_sticky_timeout_after_poll",
        "as 22b, but the sticky queue was polled once (0.3s poll that gave up) before the task",
        sticky_timeout_after_poll,
    ),
    Scenario("90_error_probes", "status codes of invalid requests", error_probes),
    Scenario("91_system_info", "GetSystemInfo", system_info),
]
