"""The crash-test workload: a workflow mixing activities (some planned to fail and retry) with durable timers,
a deterministic job generator with the result each job must produce, and an activity that records every
execution and when the server acknowledged its outcome, so a test can tell planned retries and at-least-once
re-runs from steps the server ran again after acknowledging them.

Kept free of pytest imports because the workflow sandbox re-imports this module.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

with workflow.unsafe.imports_passed_through():
    from .crash import is_outage_error

# Short enough that an attempt whose completion died with the server is retried soon after the restart,
# long enough that a loaded 2-core machine never times out a healthy attempt (they take a few ms).
ACTIVITY_START_TO_CLOSE = timedelta(seconds=6)
ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=1),
)
PLANNED_FAILURE = "planned failure"


@dataclass
class Step:
    """One step of a job: `activity` (fails `fail_times` times first), `parallel` (two such activities at
    once) or `timer` (a durable sleep of `seconds`)."""

    kind: str
    fail_times: int = 0
    seconds: float = 0.0


@dataclass
class Job:
    workflow_id: str
    seed: int
    steps: list[Step]


@dataclass
class StepCall:
    workflow_id: str
    step: int
    slot: int
    value: int
    fail_times: int


def mix(value: int, step: int, slot: int) -> int:
    """What one step does to the running value; deterministic so the test knows every workflow's result."""
    return (value * 1_000_003 + step * 7919 + slot * 104_729 + 1) % 2_147_483_647


def expected_result(job: Job) -> int:
    value = job.seed
    for index, step in enumerate(job.steps):
        if step.kind == "parallel":
            value = mix(mix(value, index, 0) + mix(value, index, 1), index, 2)
        else:
            value = mix(value, index, 0)
    return value


def make_jobs(count: int, seed: int, prefix: str) -> list[Job]:
    """`count` jobs of 3-5 steps with deterministic ids, seeds, planned failures and timer lengths."""
    rng = random.Random(seed)
    jobs = []
    for number in range(count):
        steps = []
        for _ in range(rng.randint(3, 5)):
            kind = rng.choices(["activity", "parallel", "timer"], weights=[5, 2, 3])[0]
            fail_times = rng.choices([0, 1, 2], weights=[6, 3, 1])[0]
            seconds = round(rng.uniform(0.2, 2.0), 2) if kind == "timer" else 0.0
            steps.append(Step(kind=kind, fail_times=0 if kind == "timer" else fail_times, seconds=seconds))
        jobs.append(Job(workflow_id=f"{prefix}-{number:04d}", seed=rng.randrange(2**31), steps=steps))
    return jobs


@workflow.defn
class MixedWorkflow:
    @workflow.run
    async def run(self, job: Job) -> int:
        value = job.seed
        for index, step in enumerate(job.steps):
            if step.kind == "timer":
                await workflow.sleep(step.seconds)
                value = mix(value, index, 0)
            elif step.kind == "activity":
                value = await self._call(StepCall(job.workflow_id, index, 0, value, step.fail_times))
            else:
                left, right = await asyncio.gather(
                    self._call(StepCall(job.workflow_id, index, 0, value, step.fail_times)),
                    self._call(StepCall(job.workflow_id, index, 1, value, step.fail_times)),
                )
                value = mix(left + right, index, 2)
        return value

    async def _call(self, call: StepCall) -> int:
        return await workflow.execute_activity(
            "step",
            call,
            result_type=int,
            start_to_close_timeout=ACTIVITY_START_TO_CLOSE,
            retry_policy=ACTIVITY_RETRY,
        )


@dataclass
class Execution:
    """One run of the `step` activity, on the test process's monotonic clock. `reported` is when the server
    answered the run's outcome report: `acknowledged` if it accepted it; if not, it had given up on it."""

    workflow_id: str
    step: int
    slot: int
    attempt: int
    started: float
    failed: bool
    reported: float = float("inf")
    acknowledged: bool = False


@dataclass
class Ledger:
    """Owns the `step` activity and records each of its executions and when the server acknowledged each
    outcome. The activity completes asynchronously and the test's own client reports the outcome, so the
    moment of acknowledgement is known exactly instead of hidden inside the SDK worker."""

    client: Client
    executions: list[Execution] = field(default_factory=list)
    reports: set[asyncio.Task[None]] = field(default_factory=set)

    @activity.defn(name="step")
    async def step(self, call: StepCall) -> int:
        info = activity.info()
        execution = Execution(
            call.workflow_id,
            call.step,
            call.slot,
            info.attempt,
            time.monotonic(),
            info.attempt <= call.fail_times,
        )
        self.executions.append(execution)
        # A little work time widens the window in which a kill finds attempts in flight.
        await asyncio.sleep(0.005 + (call.step * 7 + call.slot) % 4 * 0.01)
        report = asyncio.create_task(
            self._report(info.task_token, execution, mix(call.value, call.step, call.slot))
        )
        self.reports.add(report)
        report.add_done_callback(self.reports.discard)
        activity.raise_complete_async()

    async def _report(self, task_token: bytes, execution: Execution, result: int) -> None:
        """Complete or fail the attempt by task token, retrying through outages until the server answers."""
        handle = self.client.get_async_activity_handle(task_token=task_token)
        deadline = time.monotonic() + 60
        while True:
            try:
                if execution.failed:
                    await handle.fail(ApplicationError(PLANNED_FAILURE))
                else:
                    await handle.complete(result)
                execution.acknowledged = True
            except RPCError as error:
                if is_outage_error(error) and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                    continue
                if error.status != RPCStatusCode.NOT_FOUND:  # NOT_FOUND: the attempt timed out meanwhile
                    raise
            execution.reported = time.monotonic()
            return


@workflow.defn
class SleepWorkflow:
    """One durable timer, for the timers-across-an-outage test."""

    @workflow.run
    async def run(self, seconds: float) -> float:
        await workflow.sleep(seconds)
        return seconds


@workflow.defn
class ProbeWorkflow:
    """Finishes on its first workflow task: proof that a start survived and can still make progress."""

    @workflow.run
    async def run(self) -> str:
        return workflow.info().workflow_id
