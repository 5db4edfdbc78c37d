"""Durable timers outlive a server that is SIGKILLed before they fire and stays down past their due time:
after the restart each fires exactly once, promptly, and never early; timers due after the restart still wait.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from tests.helpers.eventually import assert_eventually

from .checks import results_within, type_name
from .crash import Crasher
from .workload import SleepWorkflow

pytestmark = [pytest.mark.durability, pytest.mark.timeout(90)]

# Due while the server is down: 2.0-2.96 s. Due after the restart: 6.0-6.5 s.
OVERDUE = [2.0 + index * 0.04 for index in range(25)]
LATER = [6.0 + index * 0.1 for index in range(6)]
# How soon after the restart an overdue timer must fire.
PROMPT = 10.0


def _seconds(event: HistoryEvent) -> float:
    return event.event_time.ToNanoseconds() / 1e9


async def timer_events(handle: WorkflowHandle[SleepWorkflow, float]) -> dict[str, list[HistoryEvent]]:
    events: dict[str, list[HistoryEvent]] = {}
    async for event in handle.fetch_history_events():
        events.setdefault(type_name(event), []).append(event)
    return events


async def test_timers_due_during_an_outage_fire_after_restart(
    durable_client: Client, crasher: Crasher
) -> None:
    task_queue = f"timers-{uuid.uuid4().hex[:8]}"
    durations = OVERDUE + LATER
    async with Worker(durable_client, task_queue=task_queue, workflows=[SleepWorkflow]):
        handles = await asyncio.gather(
            *(
                durable_client.start_workflow(
                    SleepWorkflow.run,
                    seconds,
                    id=f"sleep-{index:02d}-{uuid.uuid4().hex[:6]}",
                    task_queue=task_queue,
                )
                for index, seconds in enumerate(durations)
            )
        )

        async def all_timers_started() -> list[HistoryEvent]:
            histories = await asyncio.gather(*(timer_events(handle) for handle in handles))
            assert all("TIMER_STARTED" in events for events in histories), "timers not started yet"
            return [events["TIMER_STARTED"][0] for events in histories]

        started = await assert_eventually(all_timers_started, timeout=20)
        earliest_due = min(
            _seconds(event) + seconds for event, seconds in zip(started, durations, strict=True)
        )
        killed_at = time.time()
        await crasher.kill()
        assert killed_at < earliest_due, (
            f"setup too slow: killed {killed_at - earliest_due:.2f} s after a due time"
        )
        # Stay down until every overdue timer is past due, by a margin.
        latest_overdue = max(
            _seconds(event) + seconds for event, seconds in zip(started, OVERDUE, strict=False)
        )
        await asyncio.sleep(max(0.0, latest_overdue + 0.5 - time.time()))
        restart_began = time.time()
        await crasher.restart()
        restarted_at = time.time()
        results = await results_within(handles, patience=30)

    assert results == durations
    problems = []
    delays = []
    for index, (handle, seconds) in enumerate(zip(handles, durations, strict=True)):
        events = await timer_events(handle)
        counts = {name: len(events.get(name, [])) for name in ("TIMER_STARTED", "TIMER_FIRED")}
        if (
            counts != {"TIMER_STARTED": 1, "TIMER_FIRED": 1}
            or len(events["WORKFLOW_EXECUTION_COMPLETED"]) != 1
        ):
            problems.append(
                f"{handle.id}: {counts}, {len(events['WORKFLOW_EXECUTION_COMPLETED'])} completions"
            )
            continue
        due = _seconds(events["TIMER_STARTED"][0]) + seconds
        fired = _seconds(events["TIMER_FIRED"][0])
        delays.append(round(fired - max(due, restarted_at), 2))
        if fired < due:
            problems.append(f"{handle.id}: fired {due - fired:.3f} s early")
        # The server was down at the due time, so the timer can only have fired once it was back.
        if index < len(OVERDUE) and not restart_began <= fired <= restarted_at + PROMPT:
            problems.append(
                f"{handle.id}: overdue timer fired {fired - restarted_at:+.2f} s from the restart"
            )
    print(f"fired this long after max(due, restart): {sorted(delays)}")
    assert not problems, "\n".join(problems)
