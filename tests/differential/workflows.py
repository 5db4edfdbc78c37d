"""Workflows and activities the differential scenarios run, kept in their own module for the SDK sandbox.

The workflow sandbox re-imports the module a workflow is defined in, so this module imports nothing but
the SDK and the standard library.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

# ---------------------------------------------------------------------------------------------- activities


@activity.defn
async def succeed(arg: str) -> str:
    return f"ok:{arg}"


@activity.defn
async def fail_until(succeed_on_attempt: int) -> str:
    attempt = activity.info().attempt
    if attempt < succeed_on_attempt:
        raise ApplicationError(f"boom {attempt}", type="Boom")
    return f"ok on attempt {attempt}"


@activity.defn
async def always_fail(sleep_seconds: float) -> str:
    await asyncio.sleep(sleep_seconds)
    raise ApplicationError(f"always fails (attempt {activity.info().attempt})", type="Boom")


@activity.defn
async def fail_first_then_hang(hang_seconds: float) -> str:
    if activity.info().attempt == 1:
        raise ApplicationError("first attempt fails", type="Boom")
    await asyncio.sleep(hang_seconds)
    raise ApplicationError(f"gave up hanging (attempt {activity.info().attempt})", type="Boom")


@activity.defn
async def fail_non_retryable(_: str) -> str:
    raise ApplicationError("fatal", {"why": "bad input"}, type="Fatal", non_retryable=True)


@activity.defn
async def sleep_for(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


@activity.defn
async def heartbeat_then_stall(seconds: float) -> str:
    activity.heartbeat("only beat")
    await asyncio.sleep(seconds)
    return "stalled"


@activity.defn
async def heartbeat_until_cancelled(seconds: float) -> str:
    """Heartbeats every 100 ms; the SDK raises CancelledError here when a heartbeat learns of a cancel."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        activity.heartbeat("beat")
        await asyncio.sleep(0.1)
    return "never cancelled"


ALL_ACTIVITIES = [
    succeed,
    fail_until,
    always_fail,
    fail_first_then_hang,
    fail_non_retryable,
    sleep_for,
    heartbeat_then_stall,
    heartbeat_until_cancelled,
]

# ----------------------------------------------------------------------------------------------- workflows


@dataclass
class ActivitySpec:
    """What RunActivity schedules; durations in seconds, None meaning unset."""

    activity: str
    arg: Any = "x"
    task_queue: str | None = None
    start_to_close: float | None = 10.0
    schedule_to_close: float | None = None
    schedule_to_start: float | None = None
    heartbeat: float | None = None
    initial_interval: float | None = None
    backoff: float | None = None
    max_attempts: int | None = None
    cancellation_type: int = 0  # workflow.ActivityCancellationType value


def _seconds(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def _options(spec: ActivitySpec) -> dict[str, object]:
    retry = None
    if spec.initial_interval is not None or spec.max_attempts is not None or spec.backoff is not None:
        retry = RetryPolicy(
            initial_interval=timedelta(seconds=spec.initial_interval or 1.0),
            backoff_coefficient=spec.backoff or 2.0,
            maximum_attempts=spec.max_attempts or 0,
        )
    return {
        "task_queue": spec.task_queue,
        "start_to_close_timeout": _seconds(spec.start_to_close),
        "schedule_to_close_timeout": _seconds(spec.schedule_to_close),
        "schedule_to_start_timeout": _seconds(spec.schedule_to_start),
        "heartbeat_timeout": _seconds(spec.heartbeat),
        "retry_policy": retry,
        "cancellation_type": workflow.ActivityCancellationType(spec.cancellation_type),
    }


@workflow.defn
class RunActivity:
    """Runs one activity; its failure (ActivityError) fails the workflow."""

    @workflow.run
    async def run(self, spec: ActivitySpec) -> str:
        return str(await workflow.execute_activity(spec.activity, spec.arg, **_options(spec)))  # type: ignore[call-overload]


@workflow.defn
class CancelActivity:
    """Starts an activity, cancels it on signal 'cancel' (or after a 100 ms timer if not waiting)."""

    def __init__(self) -> None:
        self.cancel_now = False

    @workflow.signal
    def cancel(self) -> None:
        self.cancel_now = True

    @workflow.run
    async def run(self, spec: ActivitySpec, wait_for_signal: bool) -> str:
        handle = workflow.start_activity(spec.activity, spec.arg, **_options(spec))  # type: ignore[call-overload]
        if wait_for_signal:
            await workflow.wait_condition(lambda: self.cancel_now)
        else:
            await workflow.sleep(0.1)
        handle.cancel()
        try:
            return f"completed: {await handle}"
        except ActivityError as err:
            return f"activity error: {type(err.cause).__name__}"


@workflow.defn
class Timer:
    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(seconds)
        return "fired"


@workflow.defn
class CancelTimer:
    """Starts a 1 h timer, lets a 100 ms timer fire, then cancels the long one."""

    @workflow.run
    async def run(self) -> str:
        long_sleep = asyncio.create_task(workflow.sleep(3600))
        await workflow.sleep(0.1)
        long_sleep.cancel()
        try:
            await long_sleep
        except asyncio.CancelledError:
            return "timer cancelled"
        return "timer fired?"


@workflow.defn
class Fail:
    @workflow.run
    async def run(self) -> str:
        raise ApplicationError("workflow failed on purpose", {"k": 1}, type="MyError")


@workflow.defn
class Sleep:
    """Sleeps; a cancel request's CancelledError propagates and cancels the workflow."""

    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(seconds)
        return "woke"


@workflow.defn
class BadCode:
    """Raises a plain exception: the SDK fails the workflow task, not the workflow."""

    @workflow.run
    async def run(self) -> str:
        raise RuntimeError("bug in workflow code")


@workflow.defn
class Patched:
    @workflow.run
    async def run(self) -> str:
        if workflow.patched("my-patch"):
            return "patched"
        return "unpatched"


@workflow.defn
class Done:
    @workflow.run
    async def run(self) -> str:
        return "done"


@workflow.defn
class ContinueOnce:
    """Continues as new once (with input 1), then completes.

    The first run outlives the real server's 1 s continue-as-new minimum interval: a quicker run would get
    a timing-dependent first_workflow_task_backoff (1 s minus its lifetime) on the next run.
    """

    @workflow.run
    async def run(self, generation: int) -> str:
        if generation == 0:
            await workflow.sleep(1.1)
            workflow.continue_as_new(1)
        return f"generation {generation}"


@workflow.defn
class Parent:
    @workflow.run
    async def run(self) -> str:
        child = await workflow.execute_child_workflow(Done.run, id=workflow.info().workflow_id + "-child")
        return f"child said {child}"


@workflow.defn
class LocalActivity:
    @workflow.run
    async def run(self) -> str:
        timeout = timedelta(seconds=5)
        return str(await workflow.execute_local_activity(succeed, "local", start_to_close_timeout=timeout))


@workflow.defn
class Interactive:
    """Collects signals, answers a query and an update, finishes on signal 'finish'."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.finished = False

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.signal
    def finish(self) -> None:
        self.finished = True

    @workflow.query
    def items_so_far(self) -> list[str]:
        return self.items

    @workflow.update
    def add_and_count(self, item: str) -> int:
        self.items.append(item)
        return len(self.items)

    @add_and_count.validator
    def _reject_empty(self, item: str) -> None:
        if not item:
            raise ValueError("empty item")

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.finished)
        return self.items


@workflow.defn
class FailThenSucceed:
    """Fails its first run (workflow retry policy retries it), succeeds on attempt 2."""

    @workflow.run
    async def run(self) -> str:
        if workflow.info().attempt < 2:
            raise ApplicationError("first run fails", type="Retryable")
        return f"attempt {workflow.info().attempt}"


ALL_WORKFLOWS = [
    RunActivity,
    CancelActivity,
    Timer,
    CancelTimer,
    Fail,
    Sleep,
    BadCode,
    Patched,
    Done,
    ContinueOnce,
    Parent,
    LocalActivity,
    Interactive,
    FailThenSucceed,
]
