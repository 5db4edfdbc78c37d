"""ResetWorkflowExecution: a new run replays the base run's history up to a workflow task and goes on from
there; signals received after that point are applied again, pending activities and timers resume, and the
run that was current is terminated by the resetter."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import (
    EventType,
    ResetReapplyExcludeType,
    UpdateAdmittedEventOrigin,
    WorkflowTaskFailedCause,
)
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
    ResetWorkflowExecutionRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from tests.helpers.eventually import assert_eventually


@activity.defn
async def echo(value: str) -> str:
    return f"echo:{value}"


@workflow.defn
class SignalCollector:
    """Waits for `count` signals, running an activity after the first, and returns what it saw."""

    def __init__(self) -> None:
        self.signals: list[str] = []

    @workflow.signal
    def add(self, value: str) -> None:
        self.signals.append(value)

    @workflow.run
    async def run(self, count: int) -> list[str]:
        await workflow.wait_condition(lambda: len(self.signals) >= 1)
        seen = [
            await workflow.execute_activity(
                echo, self.signals[0], start_to_close_timeout=timedelta(seconds=10)
            )
        ]
        await workflow.wait_condition(lambda: len(self.signals) >= count)
        return seen + self.signals


@workflow.defn
class PendingWork:
    """Starts an activity (on a queue named by the input) and a short timer, then waits for both."""

    @workflow.run
    async def run(self, activity_queue: str) -> str:
        result, _ = await asyncio.gather(
            workflow.execute_activity(
                echo, "late", task_queue=activity_queue, start_to_close_timeout=timedelta(seconds=10)
            ),
            workflow.sleep(2),
        )
        return result


@workflow.defn
class TimerAndSignal:
    """Starts a timer, then waits for a signal and for the timer."""

    def __init__(self) -> None:
        self.poked = False

    @workflow.signal
    def poke(self) -> None:
        self.poked = True

    @workflow.run
    async def run(self) -> str:
        timer = asyncio.ensure_future(workflow.sleep(3))
        await workflow.wait_condition(lambda: self.poked)
        await timer
        return "done"


@workflow.defn
class UpdateCollector:
    """Collects values sent by update until signalled to finish."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.done = False

    @workflow.update
    def add(self, value: str) -> int:
        self.items.append(value)
        return len(self.items)

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.done)
        return self.items


@workflow.defn
class Kid:
    """A child that finishes when signalled."""

    def __init__(self) -> None:
        self.done = False

    @workflow.signal
    def finish(self) -> None:
        self.done = True

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.done)
        return "kid done"


@workflow.defn
class ParentOfKid:
    """Starts a child, waits for a poke, then for the child's result."""

    def __init__(self) -> None:
        self.poked = False

    @workflow.signal
    def poke(self) -> None:
        self.poked = True

    @workflow.run
    async def run(self) -> str:
        kid = await workflow.start_child_workflow(Kid.run, id=f"{workflow.info().workflow_id}-kid")
        await workflow.wait_condition(lambda: self.poked)
        return await kid


def _types(events: list[HistoryEvent]) -> list[str]:
    return [EventType.Name(event.event_type).removeprefix("EVENT_TYPE_") for event in events]


async def _start_pinned(
    client: Client, run: Any, arg: Any, workflow_id: str, task_queue: str
) -> WorkflowHandle[Any, Any]:
    """Start, and return a handle on this very run (a start's handle follows the current run, which a
    reset changes)."""
    args = [] if arg is None else [arg]
    started = await client.start_workflow(run, args=args, id=workflow_id, task_queue=task_queue)
    return client.get_workflow_handle(workflow_id, run_id=started.result_run_id)


async def _events(handle: WorkflowHandle[Any, Any]) -> list[HistoryEvent]:
    return list((await handle.fetch_history()).events)


async def _reset(
    client: Client, workflow_id: str, run_id: str, event_id: int, reason: str = "testing reset", **extra: Any
) -> str:
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            reason=reason,
            workflow_task_finish_event_id=event_id,
            request_id=str(uuid.uuid4()),
            identity="reset-test",
            **extra,
        )
    )
    return response.run_id


async def _describe(client: Client, workflow_id: str, run_id: str) -> DescribeWorkflowExecutionResponse:
    execution = WorkflowExecution(workflow_id=workflow_id, run_id=run_id)
    return await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(namespace=client.namespace, execution=execution)
    )


def _completed_task_ids(events: list[HistoryEvent]) -> list[int]:
    return [e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]


async def _until(handle: WorkflowHandle[Any, Any], event_type: str, count: int = 1) -> list[HistoryEvent]:
    async def seen() -> list[HistoryEvent]:
        events = await _events(handle)
        assert _types(events).count(event_type) >= count
        return events

    return await assert_eventually(seen)


async def test_reset_of_completed_workflow_replays_and_reapplies_later_signals(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    async with Worker(client, task_queue=task_queue, workflows=[SignalCollector], activities=[echo]):
        handle = await _start_pinned(client, SignalCollector.run, 2, workflow_id, task_queue)
        await _until(handle, "WORKFLOW_TASK_COMPLETED")
        await handle.signal(SignalCollector.add, "first")
        await _until(handle, "ACTIVITY_TASK_COMPLETED")
        await handle.signal(SignalCollector.add, "second")
        assert await handle.result() == ["echo:first", "first", "second"]
        base_events = await _events(handle)
        base_run_id = handle.result_run_id
        assert base_run_id is not None

        # Back to the end of the first workflow task, before both signals: they are applied again after
        # the reset point, in their order, and the activity runs again.
        first_task = _completed_task_ids(base_events)[0]
        new_run_id = await _reset(client, workflow_id, base_run_id, first_task)
        assert new_run_id != base_run_id
        new_handle = client.get_workflow_handle(workflow_id, run_id=new_run_id)
        assert await new_handle.result() == ["echo:first", "first", "second"]

    new_events = await _events(new_handle)
    # The kept prefix is the base run's history, event for event.
    assert [e.SerializeToString() for e in new_events[: first_task - 1]] == [
        e.SerializeToString() for e in base_events[: first_task - 1]
    ]
    failed = new_events[first_task - 1]
    assert failed.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    attributes = failed.workflow_task_failed_event_attributes
    assert attributes.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
    assert attributes.failure.message == "testing reset"
    assert attributes.failure.HasField("reset_workflow_failure_info")
    assert attributes.identity == "history-service"
    assert (attributes.base_run_id, attributes.new_run_id) == (base_run_id, new_run_id)
    reapplied = new_events[first_task : first_task + 2]
    assert _types(reapplied) == ["WORKFLOW_EXECUTION_SIGNALED"] * 2
    originals = [e for e in base_events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]
    assert [e.workflow_execution_signaled_event_attributes for e in reapplied] == [
        e.workflow_execution_signaled_event_attributes for e in originals
    ]
    scheduled = new_events[first_task + 2]
    assert scheduled.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED
    assert scheduled.workflow_task_scheduled_event_attributes.task_queue.name == task_queue

    # The base run stays completed; the new run is now the workflow id's current run.
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert (await client.get_workflow_handle(workflow_id).describe()).run_id == new_run_id
    base_described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id, run_id=base_run_id),
        )
    )
    new_described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=workflow_id, run_id=new_run_id),
        )
    )
    assert base_described.workflow_extended_info.reset_run_id == new_run_id
    assert new_described.workflow_extended_info.HasField("last_reset_time")
    assert (
        new_described.workflow_extended_info.original_start_time
        == base_described.workflow_execution_info.start_time
    )
    assert new_described.workflow_execution_info.first_run_id == base_run_id


async def test_reset_of_running_workflow_terminates_it_and_can_leave_signals_out(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    async with Worker(client, task_queue=task_queue, workflows=[SignalCollector], activities=[echo]):
        handle = await _start_pinned(client, SignalCollector.run, 3, workflow_id, task_queue)
        await handle.signal(SignalCollector.add, "one")
        await _until(handle, "WORKFLOW_TASK_COMPLETED", 2)
        await handle.signal(SignalCollector.add, "two")
        base_events = await _until(handle, "WORKFLOW_TASK_COMPLETED", 3)
        assert handle.run_id is not None

        # Back to the end of the second task, before signal "two" arrived; it is not applied again.
        second_task = _completed_task_ids(base_events)[1]
        new_run_id = await _reset(
            client,
            workflow_id,
            "",
            second_task,
            reason="leave signals out",
            reset_reapply_exclude_types=[ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL],
        )
        closing = (await _events(handle))[-1]
        assert closing.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
        terminated = closing.workflow_execution_terminated_event_attributes
        assert (terminated.reason, terminated.identity) == ("leave signals out", "history-resetter")

        new_handle = client.get_workflow_handle(workflow_id, run_id=new_run_id)
        await _until(new_handle, "WORKFLOW_TASK_COMPLETED", 2)
        assert "WORKFLOW_EXECUTION_SIGNALED" not in _types((await _events(new_handle))[second_task - 1 :])
        await new_handle.signal(SignalCollector.add, "three")
        await new_handle.signal(SignalCollector.add, "four")
        assert await new_handle.result() == ["echo:one", "one", "three", "four"]


async def test_activity_pending_at_the_reset_point_runs_in_the_new_run(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    activity_queue = f"{task_queue}-activities"
    async with Worker(client, task_queue=task_queue, workflows=[PendingWork]):
        handle = await _start_pinned(client, PendingWork.run, activity_queue, workflow_id, task_queue)
        base_events = await _until(handle, "WORKFLOW_TASK_COMPLETED", 2)
        # The second task followed the timer firing; the activity is still pending (no worker serves it).
        second_task = _completed_task_ids(base_events)[1]
        new_run_id = await _reset(client, workflow_id, "", second_task)
        new_handle = client.get_workflow_handle(workflow_id, run_id=new_run_id)
        # The new run's worker has seen the kept history: the activity pending, the timer fired.
        await _until(new_handle, "WORKFLOW_TASK_COMPLETED", 2)
        async with Worker(client, task_queue=activity_queue, activities=[echo]):
            assert await new_handle.result() == "echo:late"
    new_types = _types(await _events(new_handle))
    # Scheduled in the kept history, completed in the new run.
    assert new_types.count("ACTIVITY_TASK_SCHEDULED") == 1
    assert "ACTIVITY_TASK_COMPLETED" in new_types[second_task:]
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED


async def test_timer_pending_at_the_reset_point_fires_in_the_new_run(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    async with Worker(client, task_queue=task_queue, workflows=[TimerAndSignal]):
        handle = await _start_pinned(client, TimerAndSignal.run, None, workflow_id, task_queue)
        await _until(handle, "TIMER_STARTED")
        await handle.signal(TimerAndSignal.poke)
        base_events = await _until(handle, "WORKFLOW_TASK_COMPLETED", 2)
        # After the second task the timer is still pending: the new run must fire it, once.
        second_task = _completed_task_ids(base_events)[1]
        new_run_id = await _reset(client, workflow_id, "", second_task)
        new_handle = client.get_workflow_handle(workflow_id, run_id=new_run_id)
        assert await new_handle.result() == "done"
    new_types = _types(await _events(new_handle))
    assert new_types.count("TIMER_STARTED") == 1
    assert new_types.index("TIMER_FIRED") > second_task


async def test_reset_to_a_workflow_task_started_event(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    async with Worker(client, task_queue=task_queue, workflows=[SignalCollector], activities=[echo]):
        handle = await _start_pinned(client, SignalCollector.run, 1, workflow_id, task_queue)
        await handle.signal(SignalCollector.add, "only")
        await handle.result()
        new_run_id = await _reset(client, workflow_id, "", 3)
        new_handle = client.get_workflow_handle(workflow_id, run_id=new_run_id)
        assert await new_handle.result() == ["echo:only", "only"]
    events = await _events(new_handle)
    assert _types(events)[:5] == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_FAILED",
        "WORKFLOW_EXECUTION_SIGNALED",
    ]
    started = events[2].workflow_task_started_event_attributes
    assert (started.identity, started.request_id) == ("history-service", "emptyUuid")


@pytest.mark.parametrize(
    ("event_id", "message"),
    [
        (0, "Workflow task finish ID must be > 1 && <= workflow last event ID."),
        (1, "Workflow task finish ID must be > 1 && <= workflow last event ID."),
        (999, "Workflow task finish ID must be > 1 && <= workflow last event ID."),
        (
            2,
            "StateRebuilder unable to Rebuild mutable state to event ID: 1, version: 0, "
            "this event must be at the boundary",
        ),
    ],
)
async def test_reset_point_must_end_a_workflow_task(
    client: Client, task_queue: str, workflow_id: str, event_id: int, message: str
) -> None:
    handle = await client.start_workflow(SignalCollector.run, 1, id=workflow_id, task_queue=task_queue)
    with pytest.raises(RPCError) as raised:
        await _reset(client, workflow_id, "", event_id)
    assert raised.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert raised.value.message == message
    await handle.terminate()


async def test_reset_needs_a_request_id_and_an_existing_workflow(client: Client, workflow_id: str) -> None:
    with pytest.raises(RPCError) as raised:
        await client.workflow_service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=workflow_id),
                workflow_task_finish_event_id=4,
            )
        )
    assert raised.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert raised.value.message == "RequestId is not set on request."
    with pytest.raises(RPCError) as raised:
        await _reset(client, workflow_id, "", 4)
    assert raised.value.status == RPCStatusCode.NOT_FOUND
    assert raised.value.message == f"workflow not found for ID: {workflow_id}"


@pytest.mark.parametrize("exclude_updates", [False, True])
async def test_updates_after_the_reset_point_are_admitted_again(
    client: Client, task_queue: str, workflow_id: str, exclude_updates: bool
) -> None:
    async with Worker(client, task_queue=task_queue, workflows=[UpdateCollector]):
        handle = await _start_pinned(client, UpdateCollector.run, None, workflow_id, task_queue)
        first_task = _completed_task_ids(await _until(handle, "WORKFLOW_TASK_COMPLETED"))[0]
        assert await handle.execute_update(UpdateCollector.add, "x") == 1
        excluded = [ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_UPDATE] if exclude_updates else []
        new_run_id = await _reset(client, workflow_id, "", first_task, reset_reapply_exclude_types=excluded)
        new_handle = client.get_workflow_handle(workflow_id, run_id=new_run_id)
        await _until(new_handle, "WORKFLOW_TASK_COMPLETED")
        await new_handle.signal(UpdateCollector.finish)
        assert await new_handle.result() == ([] if exclude_updates else ["x"])
    after_reset = (await _events(new_handle))[first_task:]
    admitted = [
        e for e in after_reset if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED
    ]
    if exclude_updates:
        assert admitted == []
        return
    (event,) = admitted
    attributes = event.workflow_execution_update_admitted_event_attributes
    assert attributes.origin == UpdateAdmittedEventOrigin.UPDATE_ADMITTED_EVENT_ORIGIN_REAPPLY
    assert attributes.request.input.name == "add"
    assert "WORKFLOW_EXECUTION_UPDATE_COMPLETED" in _types(after_reset)


async def test_child_started_before_the_reset_point_reports_to_the_new_run(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    async with Worker(client, task_queue=task_queue, workflows=[ParentOfKid, Kid]):
        handle = await _start_pinned(client, ParentOfKid.run, None, workflow_id, task_queue)
        await _until(handle, "CHILD_WORKFLOW_EXECUTION_STARTED")
        await handle.signal(ParentOfKid.poke)
        last_task = _completed_task_ids(await _until(handle, "WORKFLOW_TASK_COMPLETED", 3))[-1]
        new_run_id = await _reset(client, workflow_id, "", last_task)
        # The child outlives the reset (no parent close policy applies) and its outcome goes to the new run.
        await client.get_workflow_handle(f"{workflow_id}-kid").signal(Kid.finish)
        new_handle = client.get_workflow_handle(workflow_id, run_id=new_run_id)
        assert await new_handle.result() == "kid done"
    assert "CHILD_WORKFLOW_EXECUTION_COMPLETED" in _types((await _events(new_handle))[last_task - 1 :])
