"""Workflows and activities whose runs form chains: continue-as-new, workflow retries and cron.

Kept free of test imports so the SDK's workflow sandbox can re-import this module cheaply.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError

# Predefined on every server (the SDK writes it for `workflow.patched`), so usable without registration.
CHANGE_VERSION = SearchAttributeKey.for_keyword_list("TemporalChangeVersion")
# Registered only on the servers the continue-as-new module starts with `--search-attribute`.
CUSTOM_KEYWORD = SearchAttributeKey.for_keyword("CustomKeywordField")


@dataclass
class RunView:
    """What one run saw of itself through `workflow.info()`, returned so tests can compare runs."""

    run_id: str
    workflow_type: str
    task_queue: str
    attempt: int
    continued_run_id: str | None
    first_execution_run_id: str
    cron_schedule: str | None
    memo: dict[str, Any] = field(default_factory=dict)
    change_version: list[str] = field(default_factory=list)
    custom_keyword: str | None = None
    last_completion_result: Any = None
    last_failure: str | None = None


def _view() -> RunView:
    info = workflow.info()
    last_failure = workflow.get_last_failure()
    return RunView(
        run_id=info.run_id,
        workflow_type=info.workflow_type,
        task_queue=info.task_queue,
        attempt=info.attempt,
        continued_run_id=info.continued_run_id,
        first_execution_run_id=info.first_execution_run_id,
        cron_schedule=info.cron_schedule,
        memo={key: workflow.memo_value(key) for key in workflow.memo()},
        change_version=list(info.typed_search_attributes.get(CHANGE_VERSION) or []),
        custom_keyword=info.typed_search_attributes.get(CUSTOM_KEYWORD),
        last_completion_result=workflow.get_last_completion_result(),
        last_failure=None if last_failure is None else str(last_failure),
    )


@workflow.defn
class CountdownWorkflow:
    """Continues as new with `remaining - 1` until it reaches 0; returns every run's view, oldest first."""

    @workflow.run
    async def run(self, remaining: int, trail: list[RunView]) -> list[RunView]:
        trail = [*trail, _view()]
        if remaining == 0:
            return trail
        workflow.continue_as_new(args=[remaining - 1, trail])


@workflow.defn
class HopWorkflow:
    """Continues as new as `LandingWorkflow` on `target_queue`, with a short run timeout."""

    @workflow.run
    async def run(self, target_queue: str) -> tuple[str, RunView]:
        # Typed as the landing's result: `handle.result()` follows the chain and decodes that.
        workflow.continue_as_new(
            "hopped",
            workflow=LandingWorkflow.run,
            task_queue=target_queue,
            run_timeout=timedelta(seconds=30),
            task_timeout=timedelta(seconds=7),
        )


@workflow.defn
class LandingWorkflow:
    """The end of a hop: reports where it runs."""

    @workflow.run
    async def run(self, note: str) -> tuple[str, RunView]:
        return note, _view()


@dataclass
class CarryStep:
    """One run of `CarryWorkflow`: what it continues as new with; the last step just reports."""

    memo: dict[str, Any] | None = None
    custom_keyword: str | None = None
    change_version: list[str] | None = None


@workflow.defn
class CarryWorkflow:
    """Walks `steps`, continuing as new with each step's memo and search attributes (None = not set)."""

    @workflow.run
    async def run(self, steps: list[CarryStep], trail: list[RunView]) -> list[RunView]:
        trail = [*trail, _view()]
        if not steps:
            return trail
        step = steps[0]
        pairs: list[SearchAttributePair[Any]] = []
        if step.custom_keyword is not None:
            pairs.append(SearchAttributePair(CUSTOM_KEYWORD, step.custom_keyword))
        if step.change_version is not None:
            pairs.append(SearchAttributePair(CHANGE_VERSION, step.change_version))
        workflow.continue_as_new(
            args=[steps[1:], trail],
            memo=step.memo,
            search_attributes=TypedSearchAttributes(pairs) if pairs else None,
        )


@workflow.defn
class SleepThenContinueWorkflow:
    """Sleeps, then continues as new with one less run to go; used to span an execution timeout."""

    @workflow.run
    async def run(self, runs_left: int, seconds: float) -> str:
        await asyncio.sleep(seconds)
        if runs_left > 0:
            workflow.continue_as_new(args=[runs_left - 1, seconds])
        return "done"


# The test process drives the local activity of SignalsAcrossContinueWorkflow through these (activities
# run outside the sandbox, on the test's event loop): it learns when the final task is in flight and
# decides when that task may finish.
class FinalTaskGate:
    """Lets a test hold a workflow task open while it sends more signals."""

    entered: asyncio.Event | None = None
    release: asyncio.Event | None = None
    calls: int = 0

    @classmethod
    def reset(cls) -> None:
        cls.entered, cls.release, cls.calls = asyncio.Event(), asyncio.Event(), 0


@activity.defn
async def hold_final_task() -> None:
    """Runs as a local activity inside the task that continues as new, so that task stays in flight."""
    FinalTaskGate.calls += 1
    assert FinalTaskGate.entered is not None and FinalTaskGate.release is not None
    FinalTaskGate.entered.set()
    await FinalTaskGate.release.wait()


@workflow.defn
class SignalsAcrossContinueWorkflow:
    """Collects `add`/`roll` values; on `roll` it holds its task open (local activity), then continues as
    new carrying everything seen so far. A run started with `continue_on_roll=False` waits for `finish`
    and returns what it was given plus what it received."""

    def __init__(self) -> None:
        self._seen: list[str] = []
        self._roll = False
        self._finish = False

    @workflow.run
    async def run(self, carried: list[str], continue_on_roll: bool) -> list[str]:
        await workflow.wait_condition(lambda: self._roll or self._finish)
        if continue_on_roll and self._roll:
            await workflow.execute_local_activity(
                hold_final_task, start_to_close_timeout=timedelta(seconds=30)
            )
            # The backoff leaves the test time to signal the new run before its first task.
            workflow.continue_as_new(
                args=[carried + self._seen, False], backoff_start_interval=timedelta(seconds=2)
            )
        return carried + self._seen

    @workflow.signal
    def add(self, value: str) -> None:
        self._seen.append(value)

    @workflow.signal
    def roll(self, value: str) -> None:
        # One signal both adds and rolls, so the test controls exactly which task sees what.
        self._seen.append(value)
        self._roll = True

    @workflow.signal
    def finish(self) -> None:
        self._finish = True


@workflow.defn
class FlakyWorkflow:
    """Fails with an ApplicationError of `error_type` on every attempt before `succeed_on`, then returns
    its view."""

    @workflow.run
    async def run(self, succeed_on: int, error_type: str) -> RunView:
        attempt = workflow.info().attempt
        if attempt < succeed_on:
            raise ApplicationError(f"attempt {attempt} failed", type=error_type)
        return _view()


@workflow.defn
class StuckOnFirstAttemptWorkflow:
    """Waits forever on attempt 1 (so its run timeout fires); completes at once on later attempts."""

    @workflow.run
    async def run(self) -> RunView:
        if workflow.info().attempt == 1:
            await workflow.wait_condition(lambda: False)
        return _view()


@workflow.defn
class CronCounterWorkflow:
    """Each cron run returns the previous run's result + 1, failing on the runs listed in `fail_on`."""

    @workflow.run
    async def run(self, fail_on: list[int]) -> int:
        previous = workflow.get_last_completion_result(int) if workflow.has_last_completion_result() else 0
        count = previous + 1
        if count in fail_on and workflow.get_last_failure() is None:
            raise ApplicationError(f"cron run {count} failed", type="CronFailure")
        return count


WORKFLOWS = [
    CountdownWorkflow,
    HopWorkflow,
    LandingWorkflow,
    CarryWorkflow,
    SleepThenContinueWorkflow,
    SignalsAcrossContinueWorkflow,
    FlakyWorkflow,
    StuckOnFirstAttemptWorkflow,
    CronCounterWorkflow,
]
ACTIVITIES = [hold_final_task]
