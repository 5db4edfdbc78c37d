"""Durable timers: a timer fires after its duration, concurrent timers fire in duration order, a cancelled
timer never fires, and a timer fires on the server while no worker is running."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.api.history.v1 import message_pb2 as history_pb
from temporalio.client import Client, WorkflowHandle

from tests.helpers.eventually import assert_eventually
from tests.helpers.history import event_types

from ._api_support import new_worker, type_names
from ._api_workflows import CancelTimerWorkflow, ConcurrentTimersWorkflow, SleepWorkflow


async def _events(handle: WorkflowHandle[Any, Any]) -> list[history_pb.HistoryEvent]:
    return list((await handle.fetch_history()).events)


def _of_type(events: list[history_pb.HistoryEvent], name: str) -> list[history_pb.HistoryEvent]:
    return [event for event, event_name in zip(events, type_names(events), strict=True) if event_name == name]


async def test_timer_fires_after_its_duration(client: Client, task_queue: str, workflow_id: str) -> None:
    async with new_worker(client, task_queue):
        handle = await client.start_workflow(SleepWorkflow.run, 0.5, id=workflow_id, task_queue=task_queue)
        assert await handle.result() == "woke up"
    events = await _events(handle)
    assert type_names(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "TIMER_STARTED",
        "TIMER_FIRED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    started, fired = events[4], events[5]
    timer = started.timer_started_event_attributes
    assert timer.start_to_fire_timeout.ToTimedelta() == timedelta(milliseconds=500)
    assert timer.workflow_task_completed_event_id == events[3].event_id
    assert fired.timer_fired_event_attributes.timer_id == timer.timer_id
    assert fired.timer_fired_event_attributes.started_event_id == started.event_id
    waited = fired.event_time.ToDatetime() - started.event_time.ToDatetime()
    assert timedelta(milliseconds=500) <= waited < timedelta(seconds=3)


async def test_concurrent_timers_fire_in_duration_order(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    durations = [0.9, 0.3, 0.6]
    async with new_worker(client, task_queue):
        handle = await client.start_workflow(
            ConcurrentTimersWorkflow.run, durations, id=workflow_id, task_queue=task_queue
        )
        assert await handle.result() == [0.3, 0.6, 0.9]
    events = await _events(handle)
    started = _of_type(events, "TIMER_STARTED")
    fired = _of_type(events, "TIMER_FIRED")
    # All three were started by the first workflow task, in the order the workflow created them.
    assert [
        event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() for event in started
    ] == [timedelta(seconds=seconds) for seconds in durations]
    assert len({event.timer_started_event_attributes.timer_id for event in started}) == 3
    by_id = {event.timer_started_event_attributes.timer_id: event for event in started}
    fired_durations = [
        by_id[event.timer_fired_event_attributes.timer_id]
        .timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        .total_seconds()
        for event in fired
    ]
    assert fired_durations == [0.3, 0.6, 0.9]
    fire_times = [event.event_time.ToDatetime() for event in fired]
    assert fire_times == sorted(fire_times)


async def test_cancelled_timer_never_fires(client: Client, task_queue: str, workflow_id: str) -> None:
    async with new_worker(client, task_queue):
        handle = await client.start_workflow(CancelTimerWorkflow.run, id=workflow_id, task_queue=task_queue)

        async def timer_started() -> None:
            assert "TIMER_STARTED" in await event_types(handle)

        await assert_eventually(timer_started)
        await handle.signal(CancelTimerWorkflow.cancel_timer)
        assert await handle.result() == "timer cancelled"
    events = await _events(handle)
    names = type_names(events)
    assert "TIMER_FIRED" not in names
    [started] = _of_type(events, "TIMER_STARTED")
    [canceled] = _of_type(events, "TIMER_CANCELED")
    attributes = canceled.timer_canceled_event_attributes
    assert attributes.timer_id == started.timer_started_event_attributes.timer_id
    assert attributes.started_event_id == started.event_id
    # Cancelled by the workflow task that handled the signal, before the workflow completed.
    assert names.index("WORKFLOW_EXECUTION_SIGNALED") < names.index("TIMER_CANCELED")
    assert events[names.index("TIMER_CANCELED") - 1].HasField("workflow_task_completed_event_attributes")
    assert names[-1] == "WORKFLOW_EXECUTION_COMPLETED"


async def test_timer_fires_while_no_worker_runs(client: Client, task_queue: str, workflow_id: str) -> None:
    async with new_worker(client, task_queue):
        handle = await client.start_workflow(SleepWorkflow.run, 1.0, id=workflow_id, task_queue=task_queue)

        async def timer_started() -> None:
            assert "TIMER_STARTED" in await event_types(handle)

        await assert_eventually(timer_started)
    # The worker is gone: the server alone fires the timer and schedules the next workflow task.

    async def fired_without_worker() -> None:
        assert (await event_types(handle))[-2:] == ["TIMER_FIRED", "WORKFLOW_TASK_SCHEDULED"]

    await assert_eventually(fired_without_worker, timeout=10)
    async with new_worker(client, task_queue):
        assert await handle.result() == "woke up"
