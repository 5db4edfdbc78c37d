"""The four activity timeouts, driven by the real SDK: what the server records and what the workflow sees."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import RetryState, TimeoutType
from temporalio.api.workflowservice.v1 import RespondActivityTaskCompletedRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError

from tests.functional._activity_support import (
    NOT_FOUND,
    activity_events,
    activity_worker,
    decode,
    history,
    names,
    rpc_error,
)
from tests.functional._activity_workflows import ActivityCall, CallActivityWorkflow, Outcome
from tests.helpers.eventually import assert_eventually

# The real server words a schedule-to-close timeout as a retry it gave up on (same text on every run seen).
_GAVE_UP = (
    "Not enough time to schedule next retry before activity ScheduleToClose timeout, giving up retrying"
)
_TIMED_OUT = ["ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_STARTED", "ACTIVITY_TASK_TIMED_OUT"]


async def _run(
    client: Client, workflow_id: str, task_queue: str, call: ActivityCall
) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(CallActivityWorkflow.run, call, id=workflow_id, task_queue=task_queue)


class _Hangs:
    """An activity that never finishes on its own; it records its attempts and task tokens."""

    def __init__(self, heartbeats: int = 0) -> None:
        self.heartbeats = heartbeats
        self.attempts: list[int] = []
        self.tokens: list[bytes] = []
        self.heartbeat_details: list[list[Any]] = []

    @activity.defn(name="hangs")
    async def run(self) -> None:
        info = activity.info()
        self.attempts.append(info.attempt)
        self.tokens.append(info.task_token)
        self.heartbeat_details.append(list(info.heartbeat_details))
        for beat in range(self.heartbeats):
            activity.heartbeat("beat", info.attempt, beat)
        await asyncio.Event().wait()


async def test_schedule_to_close_timeout(client: Client, task_queue: str, workflow_id: str) -> None:
    hangs = _Hangs()
    call = ActivityCall("hangs", schedule_to_close_ms=1_000, start_to_close_ms=None)
    async with activity_worker(client, task_queue, [hangs.run]):
        handle = await _run(client, workflow_id, task_queue, call)
        outcome: Outcome = await handle.result()

    assert hangs.attempts == [1]
    assert outcome == Outcome(
        error="ActivityError",
        retry_state="TIMEOUT",
        cause="TimeoutError",
        cause_message=_GAVE_UP,
        timeout_type="SCHEDULE_TO_CLOSE",
    )
    events = activity_events(await history(handle))
    assert names(events) == _TIMED_OUT
    scheduled = events[0].activity_task_scheduled_event_attributes
    assert scheduled.schedule_to_close_timeout.ToMilliseconds() == 1_000
    # With only schedule-to-close given, the server derives the other two from it.
    assert scheduled.start_to_close_timeout.ToMilliseconds() == 1_000
    assert scheduled.schedule_to_start_timeout.ToMilliseconds() == 1_000
    timed_out = events[2].activity_task_timed_out_event_attributes
    assert timed_out.failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE
    assert timed_out.retry_state == RetryState.RETRY_STATE_TIMEOUT
    assert (timed_out.scheduled_event_id, timed_out.started_event_id) == (
        events[0].event_id,
        events[1].event_id,
    )


async def test_schedule_to_start_timeout_with_no_worker(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    call = ActivityCall("hangs", task_queue=f"{task_queue}-nobody", schedule_to_start_ms=1_000)
    async with activity_worker(client, task_queue, []):
        handle = await _run(client, workflow_id, task_queue, call)
        outcome: Outcome = await handle.result()

    assert outcome == Outcome(
        error="ActivityError",
        retry_state="TIMEOUT",
        cause="TimeoutError",
        cause_message="activity ScheduleToStart timeout",
        timeout_type="SCHEDULE_TO_START",
    )
    events = activity_events(await history(handle))
    # It never started, so there is no started event; schedule-to-start timeouts are not retried.
    assert names(events) == ["ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_TIMED_OUT"]
    assert events[0].activity_task_scheduled_event_attributes.task_queue.name == f"{task_queue}-nobody"
    # No schedule-to-close was given and the run has no timeout, so the server leaves it unset.
    assert events[0].activity_task_scheduled_event_attributes.schedule_to_close_timeout.ToMilliseconds() == 0
    timed_out = events[1].activity_task_timed_out_event_attributes
    assert timed_out.retry_state == RetryState.RETRY_STATE_TIMEOUT
    assert timed_out.failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START
    assert (timed_out.scheduled_event_id, timed_out.started_event_id) == (events[0].event_id, 0)


async def test_start_to_close_timeout_is_retried(client: Client, task_queue: str, workflow_id: str) -> None:
    hangs = _Hangs()
    call = ActivityCall("hangs", start_to_close_ms=1_000, maximum_attempts=2)
    async with activity_worker(client, task_queue, [hangs.run]):
        handle = await _run(client, workflow_id, task_queue, call)

        async def second_attempt_running() -> None:
            assert hangs.attempts == [1, 2]

        await assert_eventually(second_attempt_running)
        # The timed-out first attempt's token is dead while the run goes on: its late completion is refused.
        late = RespondActivityTaskCompletedRequest(
            namespace=client.namespace, task_token=hangs.tokens[0], identity="late"
        )
        assert await rpc_error(client.workflow_service.respond_activity_task_completed(late)) == NOT_FOUND
        outcome: Outcome = await handle.result()

    assert hangs.attempts == [1, 2]
    assert outcome == Outcome(
        error="ActivityError",
        retry_state="MAXIMUM_ATTEMPTS_REACHED",
        cause="TimeoutError",
        cause_message="activity StartToClose timeout",
        timeout_type="START_TO_CLOSE",
    )
    events = activity_events(await history(handle))
    assert names(events) == _TIMED_OUT
    started = events[1].activity_task_started_event_attributes
    assert started.attempt == 2
    assert started.last_failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
    timed_out = events[2].activity_task_timed_out_event_attributes
    assert timed_out.failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
    assert timed_out.retry_state == RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED


async def test_heartbeat_timeout_reports_the_last_details(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    hangs = _Hangs(heartbeats=2)
    call = ActivityCall("hangs", start_to_close_ms=30_000, heartbeat_ms=1_000, maximum_attempts=1)
    async with activity_worker(client, task_queue, [hangs.run]):
        handle = await _run(client, workflow_id, task_queue, call)
        outcome: Outcome = await handle.result()

    assert hangs.attempts == [1]
    assert outcome == Outcome(
        error="ActivityError",
        retry_state="MAXIMUM_ATTEMPTS_REACHED",
        cause="TimeoutError",
        cause_message="activity Heartbeat timeout",
        timeout_type="HEARTBEAT",
        details=["beat", 1, 1],
    )
    events = activity_events(await history(handle))
    assert names(events) == _TIMED_OUT
    assert events[0].activity_task_scheduled_event_attributes.heartbeat_timeout.ToMilliseconds() == 1_000
    failure = events[2].activity_task_timed_out_event_attributes.failure
    assert failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_HEARTBEAT
    assert decode(failure.timeout_failure_info.last_heartbeat_details) == ["beat", 1, 1]


async def test_heartbeat_timeout_retry_resumes_from_the_details(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    hangs = _Hangs(heartbeats=1)
    call = ActivityCall("hangs", start_to_close_ms=30_000, heartbeat_ms=1_000, maximum_attempts=2)
    async with activity_worker(client, task_queue, [hangs.run]):
        handle = await _run(client, workflow_id, task_queue, call)
        outcome: Outcome = await handle.result()

    assert hangs.attempts == [1, 2]
    # The second attempt starts from what the first one last reported.
    assert hangs.heartbeat_details == [[], ["beat", 1, 0]]
    assert (outcome.retry_state, outcome.timeout_type, outcome.details) == (
        "MAXIMUM_ATTEMPTS_REACHED",
        "HEARTBEAT",
        ["beat", 2, 0],
    )
    events = activity_events(await history(handle))
    assert names(events) == _TIMED_OUT
    started = events[1].activity_task_started_event_attributes
    assert started.attempt == 2
    assert started.last_failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_HEARTBEAT


async def test_no_retry_that_would_end_past_schedule_to_close(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    attempts: list[int] = []

    @activity.defn(name="fails_once_is_enough")
    async def fails() -> None:
        attempts.append(activity.info().attempt)
        raise ApplicationError("retryable, but too late")

    # The next attempt would be due in 5 s, after the 2 s schedule-to-close deadline: the server gives up now.
    call = ActivityCall("fails_once_is_enough", schedule_to_close_ms=2_000, initial_interval_ms=5_000)
    async with activity_worker(client, task_queue, [fails]):
        handle = await _run(client, workflow_id, task_queue, call)
        outcome: Outcome = await handle.result()

    assert attempts == [1]
    assert (outcome.retry_state, outcome.cause, outcome.cause_message) == (
        "TIMEOUT",
        "ApplicationError",
        "retryable, but too late",
    )
    events = activity_events(await history(handle))
    assert names(events) == ["ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_STARTED", "ACTIVITY_TASK_FAILED"]
    failed = events[2].activity_task_failed_event_attributes
    assert failed.retry_state == RetryState.RETRY_STATE_TIMEOUT
    assert failed.failure.message == "retryable, but too late"
