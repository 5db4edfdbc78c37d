"""The benchmark's workflows and activities, and the scenario table that names them.

This module is imported again inside the SDK's workflow sandbox, so it imports only the standard library and
`temporalio` at module level.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

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


@workflow.defn
class EntityWorkflow:
    """A long-running "entity": counts `bump` signals, answers `applied` queries, returns on `finish`.

    It has no timers or activities, so between signals it is idle, cached on the worker's sticky queue.
    """

    def __init__(self) -> None:
        self._applied = 0
        self._finished = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self._finished)
        return self._applied

    @workflow.signal
    def bump(self) -> None:
        self._applied += 1

    @workflow.signal
    def finish(self) -> None:
        self._finished = True

    @workflow.query
    def applied(self) -> int:
        return self._applied


# How one measured operation is made: "run_workflow" starts a workflow and awaits its result; the entity
# kinds act on long-running EntityWorkflows started before the measurement (see bench/entities.py);
# "visibility" is one List/CountWorkflowExecutions over closed workflows made first (see bench/visibility.py).
OperationKind = Literal["run_workflow", "signal_roundtrip", "query", "visibility"]
ENTITY_OPERATIONS: tuple[OperationKind, ...] = ("signal_roundtrip", "query")

# Custom search attributes the visibility scenario sets and filters on, registered on both servers at start
# (`--search-attribute Name=Type`), so neither needs the eventually consistent OperatorService path.
VISIBILITY_SEARCH_ATTRIBUTES = {"BenchKeyword": "Keyword", "BenchInt": "Int"}


@dataclass(frozen=True)
class Scenario:
    """One benchmark workload: the workflow it runs, how an operation uses it, and the expected result."""

    name: str
    # None when the scenario drives the server with raw gRPC and no SDK worker (visibility).
    workflow: type | None
    expected_result: object = None
    operation: OperationKind = "run_workflow"
    # Extra `server start-dev` flags, the same for both servers.
    server_args: tuple[str, ...] = ()

    @property
    def workflow_type(self) -> str:
        assert self.workflow is not None, f"scenario {self.name} runs no SDK workflow"
        # `@workflow.defn` without a name registers the class name as the workflow type.
        return self.workflow.__name__

    @property
    def on_entities(self) -> bool:
        return self.operation in ENTITY_OPERATIONS

    @property
    def unit(self) -> str:
        """Short name of what one measured operation is, for table labels."""
        if self.operation == "visibility":
            return "query"
        return "op" if self.on_entities else "wf"


SCENARIOS: dict[str, Scenario] = {
    "one_activity": Scenario("one_activity", OneActivityWorkflow, 1),
    "ten_activities": Scenario("ten_activities", TenActivitiesWorkflow, 10),
    "timer": Scenario("timer", TimerWorkflow, "done"),
    "signal_roundtrip": Scenario("signal_roundtrip", EntityWorkflow, operation="signal_roundtrip"),
    "query": Scenario("query", EntityWorkflow, operation="query"),
    "visibility": Scenario(
        "visibility",
        None,
        operation="visibility",
        server_args=tuple(
            arg
            for name, kind in VISIBILITY_SEARCH_ATTRIBUTES.items()
            for arg in ("--search-attribute", f"{name}={kind}")
        ),
    ),
}

# Two scenarios share EntityWorkflow; a worker refuses the same workflow type registered twice.
ALL_WORKFLOWS: list[type] = list(
    dict.fromkeys(scenario.workflow for scenario in SCENARIOS.values() if scenario.workflow is not None)
)
ALL_ACTIVITIES = [trivial_activity]
