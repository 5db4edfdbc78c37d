"""Workflows and activities that the workflow-level API tests run on a real `temporalio` worker.

Kept free of test imports so the SDK's workflow sandbox can re-import this module cheaply.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError


@workflow.defn
class GreetWorkflow:
    """Completes at once with a result built from its input."""

    @workflow.run
    async def run(self, name: str) -> str:
        return f"Hello, {name}!"


@workflow.defn
class FailWorkflow:
    """Fails with a non-retryable application error carrying details."""

    @workflow.run
    async def run(self, message: str) -> None:
        raise ApplicationError(message, {"reason": "on purpose"}, type="TestFailure", non_retryable=True)


@workflow.defn
class WaitWorkflow:
    """Runs until signalled `finish`; on cancellation it either re-raises or returns, as asked."""

    def __init__(self) -> None:
        self._result: str | None = None

    @workflow.run
    async def run(self, swallow_cancel: bool = False) -> str:
        try:
            await workflow.wait_condition(lambda: self._result is not None)
        except asyncio.CancelledError:
            if swallow_cancel:
                # Returning instead of re-raising proves the workflow code itself saw the cancel.
                return "saw the cancel"
            raise
        assert self._result is not None
        return self._result

    @workflow.signal
    def finish(self, result: str) -> None:
        self._result = result


@workflow.defn
class SleepWorkflow:
    """One durable timer, then completes."""

    @workflow.run
    async def run(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "woke up"


@workflow.defn
class ConcurrentTimersWorkflow:
    """Starts one timer per duration at once and returns the durations in the order they fired."""

    @workflow.run
    async def run(self, durations: list[float]) -> list[float]:
        fired: list[float] = []

        async def sleep_then_record(seconds: float) -> None:
            await asyncio.sleep(seconds)
            fired.append(seconds)

        await asyncio.gather(*(sleep_then_record(seconds) for seconds in durations))
        return fired


@workflow.defn
class CancelTimerWorkflow:
    """Starts a one-hour timer and cancels it when signalled `cancel_timer`."""

    def __init__(self) -> None:
        self._cancel = False

    @workflow.run
    async def run(self) -> str:
        timer = asyncio.create_task(asyncio.sleep(3600))
        await workflow.wait_condition(lambda: self._cancel)
        timer.cancel()
        try:
            await timer
        except asyncio.CancelledError:
            return "timer cancelled"
        return "timer fired"

    @workflow.signal
    def cancel_timer(self) -> None:
        self._cancel = True


@dataclass
class ActivityRun:
    """Which activity `ActivityWorkflow` runs, by name, and how it retries."""

    activity: str
    retry_initial_interval_ms: int = 100
    heartbeat_timeout_s: float = 1.0


@workflow.defn
class ActivityWorkflow:
    """Runs one activity by name with a fast retry policy and returns its result."""

    @workflow.run
    async def run(self, spec: ActivityRun) -> str:
        return str(
            await workflow.execute_activity(
                spec.activity,
                start_to_close_timeout=timedelta(seconds=60),
                heartbeat_timeout=timedelta(seconds=spec.heartbeat_timeout_s),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=spec.retry_initial_interval_ms),
                    backoff_coefficient=1.0,
                ),
            )
        )


@dataclass
class ActivityObservations:
    """What activities running in this test process saw, keyed by workflow id (activities run outside
    the sandbox, so tests read this module-level object directly)."""

    task_tokens: dict[str, bytes] = field(default_factory=dict)
    cancellations: dict[str, activity.ActivityCancellationDetails | None] = field(default_factory=dict)


OBSERVED = ActivityObservations()


async def _heartbeat_until_cancelled() -> str:
    info = activity.info()
    workflow_id = info.workflow_id or ""  # None only for standalone activities
    OBSERVED.task_tokens[workflow_id] = info.task_token
    try:
        while True:
            activity.heartbeat("still here")
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        OBSERVED.cancellations[workflow_id] = activity.cancellation_details()
        raise


@activity.defn
async def wait_until_cancelled() -> str:
    """Heartbeats until the worker cancels it (cancel requested, or the server no longer knows it)."""
    return await _heartbeat_until_cancelled()


@activity.defn
async def fail_twice_then_wait() -> str:
    """Fails attempts 1 and 2, then heartbeats until cancelled: leaves a pending activity on attempt 3."""
    attempt = activity.info().attempt
    if attempt < 3:
        raise ApplicationError(f"boom {attempt}")
    return await _heartbeat_until_cancelled()


WORKFLOWS = [
    GreetWorkflow,
    FailWorkflow,
    WaitWorkflow,
    SleepWorkflow,
    ConcurrentTimersWorkflow,
    CancelTimerWorkflow,
    ActivityWorkflow,
]
ACTIVITIES = [wait_until_cancelled, fail_twice_then_wait]
