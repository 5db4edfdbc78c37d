"""The benchmark's workflows and activities, and the scenario table that names them.

This module is imported again inside the SDK's workflow sandbox, so it imports only the standard library and
`temporalio` at module level.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

_ACTIVITY_TIMEOUT = timedelta(seconds=30)


@activity.defn
async def trivial_activity(index: int) -> int:
    """Does no work, so the measurement is the server's round trip and nothing else."""
    return index + 1


@workflow.defn
class OneActivityWorkflow:
    """Runs one trivial activity and returns its result."""

    @workflow.run
    async def run(self) -> int:
        return await workflow.execute_activity(trivial_activity, 0, start_to_close_timeout=_ACTIVITY_TIMEOUT)


@workflow.defn
class TenActivitiesWorkflow:
    """Runs ten trivial activities one after the other: eleven workflow tasks per workflow."""

    @workflow.run
    async def run(self) -> int:
        value = 0
        for _ in range(10):
            value = await workflow.execute_activity(
                trivial_activity, value, start_to_close_timeout=_ACTIVITY_TIMEOUT
            )
        return value


@workflow.defn
class TimerWorkflow:
    """Sleeps on a one-second durable timer, then returns."""

    @workflow.run
    async def run(self) -> str:
        await asyncio.sleep(1.0)
        return "done"


@dataclass(frozen=True)
class Scenario:
    """One benchmark workload: the workflow to start and the result it must return."""

    name: str
    workflow: type
    expected_result: object

    @property
    def workflow_type(self) -> str:
        # `@workflow.defn` without a name registers the class name as the workflow type.
        return self.workflow.__name__


SCENARIOS: dict[str, Scenario] = {
    "one_activity": Scenario("one_activity", OneActivityWorkflow, 1),
    "ten_activities": Scenario("ten_activities", TenActivitiesWorkflow, 10),
    "timer": Scenario("timer", TimerWorkflow, "done"),
}

ALL_WORKFLOWS: list[type] = [scenario.workflow for scenario in SCENARIOS.values()]
ALL_ACTIVITIES = [trivial_activity]
