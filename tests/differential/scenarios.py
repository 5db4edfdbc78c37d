"""Differential scenarios driven through the real `temporalio` worker and client (numbers as in the brief).

Each runs a workflow from workflows.py on a fresh task queue and tracks its history; scenarios that need a
worker that misbehaves at the protocol level live in raw_scenarios.py.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import RetryPolicy

from tests.differential.harness import (
    Ctx,
    Scenario,
    outcome,
    wait_activity_started,
    wait_for_event,
)
from tests.differential.workflows import (
    ActivitySpec,
    BadCode,
    CancelActivity,
    CancelTimer,
    ContinueOnce,
    Done,
    Fail,
    FailThenSucceed,
    Interactive,
    LocalActivity,
    Parent,
    Patched,
    RunActivity,
    Sleep,
    Timer,
)
from tests.helpers.eventually import assert_eventually


async def _run_activity(ctx: Ctx, spec: ActivitySpec) -> None:
    async with ctx.worker():
        handle = await ctx.client.start_workflow(
            RunActivity.run, spec, id=ctx.wf_id(), task_queue=ctx.task_queue
        )
        ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def one_activity(ctx: Ctx) -> None:
    await _run_activity(ctx, ActivitySpec("succeed", "hello"))


async def retry_then_succeed(ctx: Ctx) -> None:
    await _run_activity(ctx, ActivitySpec("fail_until", 3, initial_interval=0.1))


async def retries_exhausted(ctx: Ctx) -> None:
    await _run_activity(ctx, ActivitySpec("always_fail", 0.0, initial_interval=0.1, max_attempts=3))


async def non_retryable(ctx: Ctx) -> None:
    await _run_activity(ctx, ActivitySpec("fail_non_retryable", "x", initial_interval=0.1))


async def start_to_close_timeout(ctx: Ctx) -> None:
    await _run_activity(
        ctx, ActivitySpec("sleep_for", 3.0, start_to_close=1.0, initial_interval=0.1, max_attempts=2)
    )


async def heartbeat_timeout(ctx: Ctx) -> None:
    await _run_activity(
        ctx, ActivitySpec("heartbeat_then_stall", 3.0, start_to_close=30.0, heartbeat=1.0, max_attempts=1)
    )


async def schedule_to_close_while_running(ctx: Ctx) -> None:
    # Attempt 1 fails at once; attempt 2 (dispatched within ~1 s on either server) hangs for 10 s, so the
    # 3 s schedule-to-close fires while it runs, however loaded the machine is.
    await _run_activity(
        ctx,
        ActivitySpec(
            "fail_first_then_hang", 10.0, start_to_close=10.0, schedule_to_close=3.0, initial_interval=0.1
        ),
    )


async def schedule_to_close_blocks_retry(ctx: Ctx) -> None:
    # The first attempt fails at once; its 2 s backoff would end after the 1 s schedule-to-close deadline.
    await _run_activity(
        ctx, ActivitySpec("always_fail", 0.0, start_to_close=5.0, schedule_to_close=1.0, initial_interval=2.0)
    )


async def schedule_to_start_timeout(ctx: Ctx) -> None:
    await _run_activity(
        ctx,
        ActivitySpec(
            "succeed", "x", task_queue=ctx.task_queue + "-nowhere", start_to_close=5.0, schedule_to_start=1.0
        ),
    )


async def durable_timer(ctx: Ctx) -> None:
    async with ctx.worker():
        handle = await ctx.client.start_workflow(Timer.run, 0.2, id=ctx.wf_id(), task_queue=ctx.task_queue)
        ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def timer_cancelled(ctx: Ctx) -> None:
    async with ctx.worker():
        handle = await ctx.client.start_workflow(CancelTimer.run, id=ctx.wf_id(), task_queue=ctx.task_queue)
        ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def _cancel_running_activity(ctx: Ctx, cancellation_type: int) -> None:
    spec = ActivitySpec(
        "heartbeat_until_cancelled",
        20.0,
        start_to_close=30.0,
        heartbeat=1.0,
        cancellation_type=cancellation_type,
    )
    async with ctx.worker():
        handle = await ctx.client.start_workflow(
            CancelActivity.run, args=[spec, True], id=ctx.wf_id(), task_queue=ctx.task_queue
        )
        await wait_activity_started(handle)
        await handle.signal(CancelActivity.cancel)
        ctx.note("outcome", await outcome(handle))
        if cancellation_type == 0:
            # TRY_CANCEL: the workflow is done before the activity reacts; give the worker's heartbeat
            # time to hear about it so the activity is not left running at shutdown.
            await asyncio.sleep(1.0)
    ctx.track_handle(handle)


async def activity_cancel_wait_completed(ctx: Ctx) -> None:
    await _cancel_running_activity(ctx, 1)  # ActivityCancellationType.WAIT_CANCELLATION_COMPLETED


async def activity_cancel_try_cancel(ctx: Ctx) -> None:
    await _cancel_running_activity(ctx, 0)  # ActivityCancellationType.TRY_CANCEL


async def activity_cancel_before_start(ctx: Ctx, cancellation_type: int = 0) -> None:
    spec = ActivitySpec(
        "succeed",
        "x",
        task_queue=ctx.task_queue + "-nowhere",
        start_to_close=5.0,
        cancellation_type=cancellation_type,
    )
    async with ctx.worker():
        handle = await ctx.client.start_workflow(
            CancelActivity.run, args=[spec, False], id=ctx.wf_id(), task_queue=ctx.task_queue
        )
        ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def activity_cancel_before_start_wait(ctx: Ctx) -> None:
    await activity_cancel_before_start(ctx, 1)  # WAIT_CANCELLATION_COMPLETED


async def workflow_failed(ctx: Ctx) -> None:
    async with ctx.worker():
        handle = await ctx.client.start_workflow(Fail.run, id=ctx.wf_id(), task_queue=ctx.task_queue)
        ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def workflow_cancelled(ctx: Ctx) -> None:
    async with ctx.worker():
        handle = await ctx.client.start_workflow(Sleep.run, 3600.0, id=ctx.wf_id(), task_queue=ctx.task_queue)
        await wait_for_event(handle, EventType.EVENT_TYPE_TIMER_STARTED)
        await handle.cancel()
        ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def terminated_during_activity(ctx: Ctx) -> None:
    spec = ActivitySpec("heartbeat_until_cancelled", 20.0, start_to_close=30.0, heartbeat=1.0)
    async with ctx.worker():
        handle = await ctx.client.start_workflow(
            RunActivity.run, spec, id=ctx.wf_id(), task_queue=ctx.task_queue
        )
        await wait_activity_started(handle)
        await handle.terminate("some detail", reason="stop it")
        ctx.note("outcome", await outcome(handle))
        await asyncio.sleep(1.0)  # let the activity's next heartbeat learn it is gone
    ctx.track_handle(handle)


async def execution_timeout(ctx: Ctx) -> None:
    async with ctx.worker():
        handle = await ctx.client.start_workflow(
            Sleep.run,
            3600.0,
            id=ctx.wf_id(),
            task_queue=ctx.task_queue,
            # Long enough that the first workflow task completes first even on a loaded machine.
            execution_timeout=timedelta(seconds=3),
        )
        ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def run_timeout(ctx: Ctx) -> None:
    async with ctx.worker():
        handle = await ctx.client.start_workflow(
            Sleep.run, 3600.0, id=ctx.wf_id(), task_queue=ctx.task_queue, run_timeout=timedelta(seconds=3)
        )
        ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def workflow_task_failure_sdk(ctx: Ctx) -> None:
    async with ctx.worker():
        handle = await ctx.client.start_workflow(
            BadCode.run, id=ctx.wf_id(), task_queue=ctx.task_queue, task_timeout=timedelta(seconds=1)
        )

        async def third_attempt() -> None:
            description = await handle.describe()
            attempt = description.raw_description.pending_workflow_task.attempt
            assert attempt >= 3, attempt

        await assert_eventually(third_attempt, timeout=30)
        description = await handle.describe()
        ctx.note("pending_workflow_task_at_attempt_3", description.raw_description.pending_workflow_task)
        await handle.terminate("enough")
    ctx.track_handle(handle)


async def start_delay(ctx: Ctx) -> None:
    async with ctx.worker():
        handle = await ctx.client.start_workflow(
            Done.run, id=ctx.wf_id(), task_queue=ctx.task_queue, start_delay=timedelta(seconds=1)
        )
        description = await handle.describe()
        ctx.note("status_while_delayed", WorkflowExecutionStatus(description.status).name)
        ctx.note("pending_workflow_task_while_delayed", description.raw_description.pending_workflow_task)
        ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def patched_marker(ctx: Ctx) -> None:
    async with ctx.worker():
        handle = await ctx.client.start_workflow(Patched.run, id=ctx.wf_id(), task_queue=ctx.task_queue)
        ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def continue_as_new(ctx: Ctx) -> None:
    async with ctx.worker():
        handle = await ctx.client.start_workflow(
            ContinueOnce.run, 0, id=ctx.wf_id(), task_queue=ctx.task_queue
        )
        ctx.note("outcome", await outcome(handle))
        latest = await ctx.client.get_workflow_handle(ctx.wf_id()).describe()
    ctx.track("first_run", handle.id, handle.first_execution_run_id)
    ctx.track("second_run", handle.id, latest.run_id)


async def child_workflow(ctx: Ctx) -> None:
    async with ctx.worker():
        handle = await ctx.client.start_workflow(Parent.run, id=ctx.wf_id(), task_queue=ctx.task_queue)
        ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle, "parent")
    ctx.track("child", ctx.wf_id("-child"), None)


async def local_activity(ctx: Ctx) -> None:
    async with ctx.worker():
        handle = await ctx.client.start_workflow(LocalActivity.run, id=ctx.wf_id(), task_queue=ctx.task_queue)
        ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def signals_queries_updates(ctx: Ctx) -> None:
    async with ctx.worker():
        handle = await ctx.client.start_workflow(
            Interactive.run,
            id=ctx.wf_id(),
            task_queue=ctx.task_queue,
            start_signal="add",
            start_signal_args=["from signal-with-start"],
        )
        # Each step waits for the workflow task it caused, so no event races another one.
        completed = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        await wait_for_event(handle, completed, 1)
        await handle.signal(Interactive.add, "second")
        await wait_for_event(handle, completed, 2)
        ctx.note("query", await handle.query(Interactive.items_so_far))
        ctx.note("update", await handle.execute_update(Interactive.add_and_count, "third"))
        try:
            await handle.execute_update(Interactive.add_and_count, "")
            ctx.note("rejected_update", "accepted?!")
        except Exception as err:
            ctx.note("rejected_update", f"{type(err).__name__}: {err}; cause {err.__cause__!r}")
        await handle.signal(Interactive.finish)
        ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


async def workflow_retry(ctx: Ctx) -> None:
    async with ctx.worker():
        handle = await ctx.client.start_workflow(
            FailThenSucceed.run,
            id=ctx.wf_id(),
            task_queue=ctx.task_queue,
            # 1 s: a shorter retry would be stretched by the 1 s continue-as-new minimum (timing-dependent).
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=2),
        )
        ctx.note("outcome", await outcome(handle))
        latest = await ctx.client.get_workflow_handle(ctx.wf_id()).describe()
    ctx.track("first_run", handle.id, handle.first_execution_run_id)
    ctx.track("second_run", handle.id, latest.run_id)


SDK_SCENARIOS = [
    Scenario("01_one_activity", "Workflow with one activity that succeeds", one_activity),
    Scenario(
        "02_retry_then_succeed",
        "Activity fails twice (initial_interval 100ms), then succeeds",
        retry_then_succeed,
    ),
    Scenario("03_retries_exhausted", "Activity always fails, maximum_attempts=3", retries_exhausted),
    Scenario("04_non_retryable", "Activity raises non-retryable ApplicationError(type=Fatal)", non_retryable),
    Scenario(
        "05_start_to_close_timeout",
        "start_to_close=1s, activity sleeps 3s, maximum_attempts=2",
        start_to_close_timeout,
    ),
    Scenario(
        "06_heartbeat_timeout",
        "heartbeat_timeout=1s, one heartbeat then silence, maximum_attempts=1",
        heartbeat_timeout,
    ),
    Scenario(
        "07a_schedule_to_close_while_running",
        "schedule_to_close=3s fires while attempt 2 runs (attempt 1 fails at once, attempt 2 hangs 10s)",
        schedule_to_close_while_running,
    ),
    Scenario(
        "07b_schedule_to_close_blocks_retry",
        "attempt 1 fails at once, next retry (2s) would pass schedule_to_close=1s",
        schedule_to_close_blocks_retry,
    ),
    Scenario(
        "08_schedule_to_start_timeout",
        "activity on a task queue nobody polls, schedule_to_start=1s",
        schedule_to_start_timeout,
    ),
    Scenario("09_durable_timer", "workflow.sleep(0.2)", durable_timer),
    Scenario(
        "10_timer_cancelled", "1h timer started, 100ms timer fires, 1h timer cancelled", timer_cancelled
    ),
    Scenario(
        "11a_activity_cancel_wait_completed",
        "running heartbeating activity cancelled, WAIT_CANCELLATION_COMPLETED (cancel on signal)",
        activity_cancel_wait_completed,
    ),
    Scenario(
        "11b_activity_cancel_try_cancel",
        "running heartbeating activity cancelled, TRY_CANCEL (cancel on signal)",
        activity_cancel_try_cancel,
    ),
    Scenario(
        "12a_activity_cancel_before_start",
        "activity on unpolled queue, cancelled after a 100ms timer (TRY_CANCEL)",
        activity_cancel_before_start,
    ),
    Scenario(
        "12b_activity_cancel_before_start_wait",
        "activity on unpolled queue, cancelled after a 100ms timer (WAIT_CANCELLATION_COMPLETED)",
        activity_cancel_before_start_wait,
    ),
    Scenario("13_workflow_failed", "workflow raises ApplicationError(type=MyError)", workflow_failed),
    Scenario(
        "14_workflow_cancelled",
        "client cancels a sleeping workflow; CancelledError propagates",
        workflow_cancelled,
    ),
    Scenario(
        "15_terminated_during_activity",
        "client terminates while an activity runs",
        terminated_during_activity,
    ),
    Scenario("17a_execution_timeout", "execution_timeout=3s while sleeping 1h", execution_timeout),
    Scenario("17b_run_timeout", "run_timeout=3s while sleeping 1h", run_timeout),
    Scenario(
        "18a_workflow_task_failure_sdk",
        "workflow code raises RuntimeError (SDK worker, task_timeout=1s), terminated at attempt 3",
        workflow_task_failure_sdk,
    ),
    Scenario("19_start_delay", "start_delay=1s", start_delay),
    Scenario("20_patched_marker", "workflow.patched('my-patch')", patched_marker),
    Scenario("30_continue_as_new", "workflow continues as new once, then completes", continue_as_new),
    Scenario("31_child_workflow", "parent runs a child workflow that returns", child_workflow),
    Scenario("32_local_activity", "one local activity", local_activity),
    Scenario(
        "33_signals_queries_updates",
        "signal-with-start, signal, query, accepted update, rejected update, finishing signal",
        signals_queries_updates,
    ),
    Scenario("34_workflow_retry", "workflow retry policy (1s, 2 attempts), run 1 fails", workflow_retry),
]
