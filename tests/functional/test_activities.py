"""Activities driven by the real SDK: results, retries, heartbeats, cancellation, async completion.

Each test checks what the workflow saw and what the server wrote to history. Activity timeouts live in
test_activity_timeouts.py.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import RetryState
from temporalio.api.workflowservice.v1 import (
    RespondActivityTaskCompletedByIdRequest,
    RespondActivityTaskCompletedRequest,
)
from temporalio.client import AsyncActivityCancelledError, Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCStatusCode

from tests.functional._activity_support import (
    NOT_FOUND,
    Blocking,
    External,
    activity_events,
    activity_worker,
    async_handle,
    decode,
    history,
    names,
    rpc_code,
    rpc_error,
)
from tests.functional._activity_workflows import (
    ActivityCall,
    CallActivityWorkflow,
    CancelActivityWorkflow,
    Outcome,
)
from tests.helpers.eventually import assert_eventually

# How far a measured backoff may stray from the policy: the failure is timed on the worker just before the
# RPC that reports it, so the measurement can only run a little long.
_EARLY = 0.05
_LATE = 0.25


async def _run(
    client: Client, workflow_id: str, task_queue: str, call: ActivityCall
) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(CallActivityWorkflow.run, call, id=workflow_id, task_queue=task_queue)


async def test_activity_result_and_history(client: Client, task_queue: str, workflow_id: str) -> None:
    infos: list[activity.Info] = []

    @activity.defn(name="greet")
    async def greet(name: str, times: int) -> dict[str, Any]:
        infos.append(activity.info())
        return {"greeting": f"hello {name}", "doubled": times * 2}

    async with activity_worker(client, task_queue, [greet]):
        handle = await _run(client, workflow_id, task_queue, ActivityCall("greet", ["world", 21]))
        outcome: Outcome = await handle.result()

    assert outcome == Outcome(result={"greeting": "hello world", "doubled": 42})
    [info] = infos
    assert (info.attempt, info.activity_id, info.activity_type) == (1, "1", "greet")
    assert (info.workflow_id, info.workflow_type, info.task_queue) == (
        workflow_id,
        "CallActivityWorkflow",
        task_queue,
    )
    assert info.start_to_close_timeout == timedelta(seconds=5)
    assert info.heartbeat_details == []

    events = await history(handle)
    assert names(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_COMPLETED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    scheduled = events[4].activity_task_scheduled_event_attributes
    assert (scheduled.activity_id, scheduled.activity_type.name, scheduled.task_queue.name) == (
        "1",
        "greet",
        task_queue,
    )
    assert decode(scheduled.input) == ["world", 21]
    assert scheduled.workflow_task_completed_event_id == 4
    assert scheduled.start_to_close_timeout.ToTimedelta() == timedelta(seconds=5)
    policy = scheduled.retry_policy
    assert policy.initial_interval.ToTimedelta() == timedelta(milliseconds=100)
    assert policy.backoff_coefficient == 2.0
    # The server fills in the default maximum interval: 100 times the initial interval.
    assert policy.maximum_interval.ToTimedelta() == timedelta(seconds=10)
    assert policy.maximum_attempts == 0

    started = events[5].activity_task_started_event_attributes
    assert (started.scheduled_event_id, started.attempt) == (5, 1)
    assert started.identity == client.identity
    assert started.request_id
    assert not started.HasField("last_failure")

    completed = events[6].activity_task_completed_event_attributes
    assert (completed.scheduled_event_id, completed.started_event_id) == (5, 6)
    assert decode(completed.result) == [{"greeting": "hello world", "doubled": 42}]
    assert completed.identity == client.identity


class _Attempts:
    """Records, per attempt, when the server scheduled it and when the worker failed it.

    The server's backoff is the gap between a failure and the next attempt's `current_attempt_scheduled_time`.
    Measuring that, rather than when attempts start, keeps task-dispatch latency out: the real dev server
    takes about a second to hand out a retried activity task, whatever the backoff.
    """

    def __init__(self, succeed_on: int, next_retry_delay: timedelta | None = None) -> None:
        self.succeed_on = succeed_on
        self.next_retry_delay = next_retry_delay
        self.attempts: list[int] = []
        self.scheduled: list[datetime] = []
        self.failed: list[datetime] = []

    @activity.defn(name="flaky")
    async def run(self) -> str:
        info = activity.info()
        self.attempts.append(info.attempt)
        self.scheduled.append(info.current_attempt_scheduled_time)
        if info.attempt < self.succeed_on:
            self.failed.append(datetime.now(UTC))
            raise ApplicationError(
                f"boom {info.attempt}", type="Flaky", next_retry_delay=self.next_retry_delay
            )
        return f"ok on {info.attempt}"

    def backoffs(self) -> list[float]:
        return [
            (scheduled - failed).total_seconds()
            for failed, scheduled in zip(self.failed, self.scheduled[1:], strict=True)
        ]


def _assert_backoffs(observed: list[float], expected: list[float]) -> None:
    assert len(observed) == len(expected), observed
    for seen, wanted in zip(observed, expected, strict=True):
        assert wanted - _EARLY <= seen <= wanted + _LATE, (observed, expected)


async def test_retried_attempts_back_off_and_leave_only_the_last_started_event(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    flaky = _Attempts(succeed_on=3)
    async with activity_worker(client, task_queue, [flaky.run]):
        handle = await _run(client, workflow_id, task_queue, ActivityCall("flaky", initial_interval_ms=300))
        outcome: Outcome = await handle.result()

    assert outcome == Outcome(result="ok on 3")
    assert flaky.attempts == [1, 2, 3]
    _assert_backoffs(flaky.backoffs(), [0.3, 0.6])

    events = await history(handle)
    # The two failed attempts wrote nothing and woke no workflow task.
    assert len(events) == 11
    activity_only = activity_events(events)
    assert names(activity_only) == [
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_COMPLETED",
    ]
    started = activity_only[1].activity_task_started_event_attributes
    assert started.attempt == 3
    assert started.last_failure.message == "boom 2"
    assert started.last_failure.application_failure_info.type == "Flaky"


async def test_maximum_attempts_reached(client: Client, task_queue: str, workflow_id: str) -> None:
    attempts: list[int] = []

    @activity.defn(name="always_fails")
    async def always_fails() -> None:
        attempts.append(activity.info().attempt)
        raise ApplicationError(f"boom {attempts[-1]}", "some detail", type="Boom")

    async with activity_worker(client, task_queue, [always_fails]):
        handle = await _run(client, workflow_id, task_queue, ActivityCall("always_fails", maximum_attempts=2))
        outcome: Outcome = await handle.result()

    assert attempts == [1, 2]
    assert outcome == Outcome(
        error="ActivityError",
        retry_state="MAXIMUM_ATTEMPTS_REACHED",
        cause="ApplicationError",
        cause_message="boom 2",
        application_type="Boom",
        non_retryable=False,
        details=["some detail"],
    )
    events = activity_events(await history(handle))
    assert names(events) == ["ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_STARTED", "ACTIVITY_TASK_FAILED"]
    started = events[1].activity_task_started_event_attributes
    assert (started.attempt, started.last_failure.message) == (2, "boom 1")
    failed = events[2].activity_task_failed_event_attributes
    assert failed.retry_state == RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED
    assert failed.failure.message == "boom 2"
    assert failed.failure.application_failure_info.type == "Boom"
    assert (failed.scheduled_event_id, failed.started_event_id) == (events[0].event_id, events[1].event_id)
    assert failed.identity == client.identity


async def test_maximum_interval_caps_the_backoff(client: Client, task_queue: str, workflow_id: str) -> None:
    flaky = _Attempts(succeed_on=3)
    # Uncapped, a coefficient of 50 would wait 0.1 s and then 5 s.
    call = ActivityCall("flaky", initial_interval_ms=100, backoff=50.0, maximum_interval_ms=300)
    async with activity_worker(client, task_queue, [flaky.run]):
        handle = await _run(client, workflow_id, task_queue, call)
        outcome: Outcome = await handle.result()

    assert outcome.result == "ok on 3"
    _assert_backoffs(flaky.backoffs(), [0.1, 0.3])
    scheduled = activity_events(await history(handle))[0].activity_task_scheduled_event_attributes
    assert scheduled.retry_policy.maximum_interval.ToTimedelta() == timedelta(milliseconds=300)
    assert scheduled.retry_policy.backoff_coefficient == 50.0


@pytest.mark.parametrize("how", ["listed_type", "flagged_error"])
async def test_non_retryable_failures_are_not_retried(
    client: Client, task_queue: str, workflow_id: str, how: str
) -> None:
    attempts: list[int] = []

    @activity.defn(name="fatal")
    async def fatal() -> None:
        attempts.append(activity.info().attempt)
        raise ApplicationError("fatal error", type="Fatal", non_retryable=how == "flagged_error")

    listed = ["Fatal"] if how == "listed_type" else []
    call = ActivityCall("fatal", maximum_attempts=5, non_retryable_error_types=listed)
    async with activity_worker(client, task_queue, [fatal]):
        handle = await _run(client, workflow_id, task_queue, call)
        outcome: Outcome = await handle.result()

    assert attempts == [1]
    assert outcome == Outcome(
        error="ActivityError",
        retry_state="NON_RETRYABLE_FAILURE",
        cause="ApplicationError",
        cause_message="fatal error",
        application_type="Fatal",
        non_retryable=how == "flagged_error",
    )
    events = activity_events(await history(handle))
    assert names(events) == ["ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_STARTED", "ACTIVITY_TASK_FAILED"]
    assert events[1].activity_task_started_event_attributes.attempt == 1
    failed = events[2].activity_task_failed_event_attributes
    assert failed.retry_state == RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
    assert failed.failure.application_failure_info.non_retryable == (how == "flagged_error")
    if how == "listed_type":
        assert list(
            events[0].activity_task_scheduled_event_attributes.retry_policy.non_retryable_error_types
        ) == ["Fatal"]


async def test_next_retry_delay_overrides_the_retry_policy(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    flaky = _Attempts(succeed_on=2, next_retry_delay=timedelta(milliseconds=300))
    # The policy alone would wait 20 s; the failure asks for 300 ms.
    async with activity_worker(client, task_queue, [flaky.run]):
        handle = await _run(
            client, workflow_id, task_queue, ActivityCall("flaky", initial_interval_ms=20_000)
        )
        outcome: Outcome = await handle.result()

    assert outcome.result == "ok on 2"
    _assert_backoffs(flaky.backoffs(), [0.3])
    started = activity_events(await history(handle))[1].activity_task_started_event_attributes
    assert started.attempt == 2
    assert started.last_failure.application_failure_info.next_retry_delay.ToTimedelta() == timedelta(
        milliseconds=300
    )


async def test_heartbeat_details_reach_the_next_attempt(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    seen: list[tuple[int, list[Any]]] = []
    recorded = asyncio.Event()

    @activity.defn(name="resumable")
    async def resumable() -> list[Any]:
        info = activity.info()
        seen.append((info.attempt, list(info.heartbeat_details)))
        if info.attempt == 1:
            activity.heartbeat("checkpoint", 7)
            await recorded.wait()  # fail only once the server holds the heartbeat
            raise ApplicationError("crashed after the checkpoint")
        return list(info.heartbeat_details)

    async with activity_worker(client, task_queue, [resumable]):
        handle = await _run(client, workflow_id, task_queue, ActivityCall("resumable"))

        async def heartbeat_recorded() -> None:
            pending = (await handle.describe()).raw_description.pending_activities
            assert pending, "activity not pending yet"
            assert decode(pending[0].heartbeat_details) == ["checkpoint", 7]
            assert pending[0].HasField("last_heartbeat_time")

        await assert_eventually(heartbeat_recorded)
        recorded.set()
        outcome: Outcome = await handle.result()

    assert seen == [(1, []), (2, ["checkpoint", 7])]
    assert outcome.result == ["checkpoint", 7]
    events = activity_events(await history(handle))
    assert names(events) == ["ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_STARTED", "ACTIVITY_TASK_COMPLETED"]
    assert events[1].activity_task_started_event_attributes.attempt == 2


async def _state(handle: WorkflowHandle[Any, Any]) -> str:
    state: str = await handle.query(CancelActivityWorkflow.state)
    return state


def _cancel_call(cancellation_type: str, task_queue: str | None = None) -> ActivityCall:
    return ActivityCall(
        "blocking",
        task_queue=task_queue,
        start_to_close_ms=30_000,
        heartbeat_ms=10_000,
        cancellation_type=cancellation_type,
    )


async def _start_cancel_workflow(
    client: Client, workflow_id: str, task_queue: str, call: ActivityCall
) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        CancelActivityWorkflow.run, call, id=workflow_id, task_queue=task_queue
    )


async def _wait_for_activity_events(handle: WorkflowHandle[Any, Any], expected: list[str]) -> None:
    async def check() -> None:
        assert names(activity_events(await history(handle))) == expected

    await assert_eventually(check)


def _assert_cancelled(outcome: Outcome) -> None:
    assert (outcome.error, outcome.cause, outcome.retry_state) == (
        "ActivityError",
        "CancelledError",
        "CANCEL_REQUESTED",
    )


async def test_try_cancel_resolves_before_the_activity_acknowledges(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    blocking = Blocking()
    async with activity_worker(client, task_queue, [blocking.run]):
        handle = await _start_cancel_workflow(client, workflow_id, task_queue, _cancel_call("TRY_CANCEL"))
        await asyncio.wait_for(blocking.started.wait(), 10)
        await handle.signal(CancelActivityWorkflow.cancel)
        # The request reaches the activity through its heartbeat response.
        await asyncio.wait_for(blocking.cancelled.wait(), 10)

        async def resolved() -> None:
            assert await _state(handle) == "resolved"

        # The activity still holds its acknowledgement, yet the workflow has moved on.
        await assert_eventually(resolved)
        assert names(activity_events(await history(handle))) == [
            "ACTIVITY_TASK_SCHEDULED",
            "ACTIVITY_TASK_CANCEL_REQUESTED",
        ]
        blocking.release.set()
        # The late acknowledgement is still recorded, with the started event written just before it.
        await _wait_for_activity_events(
            handle,
            [
                "ACTIVITY_TASK_SCHEDULED",
                "ACTIVITY_TASK_CANCEL_REQUESTED",
                "ACTIVITY_TASK_STARTED",
                "ACTIVITY_TASK_CANCELED",
            ],
        )
        await handle.signal(CancelActivityWorkflow.finish)
        outcome: Outcome = await handle.result()

    _assert_cancelled(outcome)
    events = activity_events(await history(handle))
    canceled = events[3].activity_task_canceled_event_attributes
    assert canceled.scheduled_event_id == events[0].event_id
    assert canceled.started_event_id == events[2].event_id
    assert canceled.latest_cancel_requested_event_id == events[1].event_id


async def test_wait_cancellation_completed_waits_for_the_activity(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    blocking = Blocking()
    async with activity_worker(client, task_queue, [blocking.run]):
        call = _cancel_call("WAIT_CANCELLATION_COMPLETED")
        handle = await _start_cancel_workflow(client, workflow_id, task_queue, call)
        await asyncio.wait_for(blocking.started.wait(), 10)
        await handle.signal(CancelActivityWorkflow.cancel)
        await asyncio.wait_for(blocking.cancelled.wait(), 10)
        # The activity has not acknowledged, so the workflow cannot have been told anything yet.
        assert await _state(handle) == "cancel-requested"
        assert names(activity_events(await history(handle))) == [
            "ACTIVITY_TASK_SCHEDULED",
            "ACTIVITY_TASK_CANCEL_REQUESTED",
        ]
        blocking.release.set()

        async def resolved() -> None:
            assert await _state(handle) == "resolved"

        await assert_eventually(resolved)
        await handle.signal(CancelActivityWorkflow.finish)
        outcome: Outcome = await handle.result()

    _assert_cancelled(outcome)
    events = activity_events(await history(handle))
    assert names(events) == [
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_CANCEL_REQUESTED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_CANCELED",
    ]
    assert events[2].activity_task_started_event_attributes.attempt == 1
    canceled = events[3].activity_task_canceled_event_attributes
    assert (canceled.scheduled_event_id, canceled.started_event_id) == (
        events[0].event_id,
        events[2].event_id,
    )
    assert canceled.latest_cancel_requested_event_id == events[1].event_id
    assert canceled.identity == client.identity


async def test_abandon_never_tells_the_server(client: Client, task_queue: str, workflow_id: str) -> None:
    blocking = Blocking()
    async with activity_worker(client, task_queue, [blocking.run]):
        handle = await _start_cancel_workflow(client, workflow_id, task_queue, _cancel_call("ABANDON"))
        await asyncio.wait_for(blocking.started.wait(), 10)
        await handle.signal(CancelActivityWorkflow.cancel)

        async def resolved() -> None:
            assert await _state(handle) == "resolved"

        await assert_eventually(resolved)
        # The activity keeps heartbeating, uncancelled, while the workflow has moved on.
        beats = blocking.heartbeats

        async def kept_running() -> None:
            assert blocking.heartbeats >= beats + 5

        await assert_eventually(kept_running)
        assert not blocking.cancelled.is_set()
        assert names(activity_events(await history(handle))) == ["ACTIVITY_TASK_SCHEDULED"]
        await handle.signal(CancelActivityWorkflow.finish)
        outcome: Outcome = await handle.result()
        # Once the run is closed its heartbeats are refused, and the SDK cancels the activity itself.
        await asyncio.wait_for(blocking.cancelled.wait(), 10)
        blocking.release.set()

    _assert_cancelled(outcome)
    events = await history(handle)
    assert names(activity_events(events)) == ["ACTIVITY_TASK_SCHEDULED"]
    assert names(events)[-1] == "WORKFLOW_EXECUTION_COMPLETED"


@pytest.mark.parametrize("cancellation_type", ["TRY_CANCEL", "WAIT_CANCELLATION_COMPLETED"])
async def test_cancelling_an_activity_that_never_started(
    client: Client, task_queue: str, workflow_id: str, cancellation_type: str
) -> None:
    blocking = Blocking()
    # No worker polls this queue, so the activity stays scheduled.
    call = _cancel_call(cancellation_type, task_queue=f"{task_queue}-nobody")
    async with activity_worker(client, task_queue, [blocking.run]):
        handle = await _start_cancel_workflow(client, workflow_id, task_queue, call)
        await _wait_for_activity_events(handle, ["ACTIVITY_TASK_SCHEDULED"])
        await handle.signal(CancelActivityWorkflow.cancel)

        async def resolved() -> None:
            assert await _state(handle) == "resolved"

        await assert_eventually(resolved)
        await handle.signal(CancelActivityWorkflow.finish)
        outcome: Outcome = await handle.result()

    _assert_cancelled(outcome)
    events = activity_events(await history(handle))
    # Not started: the server cancels it on the spot, with no started event.
    assert names(events) == [
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_CANCEL_REQUESTED",
        "ACTIVITY_TASK_CANCELED",
    ]
    canceled = events[2].activity_task_canceled_event_attributes
    assert (canceled.scheduled_event_id, canceled.started_event_id) == (events[0].event_id, 0)
    assert canceled.latest_cancel_requested_event_id == events[1].event_id
    # The server says why; only a workflow that waited for the outcome sees it, TRY_CANCEL resolved earlier.
    assert decode(canceled.details) == ["ACTIVITY_ID_NOT_STARTED"]
    expected = ["ACTIVITY_ID_NOT_STARTED"] if cancellation_type == "WAIT_CANCELLATION_COMPLETED" else []
    assert outcome.details == expected
    assert not blocking.started.is_set()


@pytest.mark.parametrize("how", ["token", "id"])
async def test_async_completion_with_heartbeat(
    client: Client, task_queue: str, workflow_id: str, how: str
) -> None:
    external = External()
    async with activity_worker(client, task_queue, [external.run]):
        handle = await _run(
            client, workflow_id, task_queue, ActivityCall("external", start_to_close_ms=30_000)
        )
        completer = async_handle(client, how, await external.next_token(), handle)
        await completer.heartbeat("halfway", 50)

        async def heartbeat_recorded() -> None:
            [pending] = (await handle.describe()).raw_description.pending_activities
            assert decode(pending.heartbeat_details) == ["halfway", 50]

        await assert_eventually(heartbeat_recorded)
        await completer.complete("done elsewhere")
        outcome: Outcome = await handle.result()
        # The activity is closed now: the same handle may not complete it again.
        assert await rpc_error(completer.complete("again")) == NOT_FOUND
        assert await rpc_error(completer.heartbeat()) == NOT_FOUND

    assert outcome == Outcome(result="done elsewhere")
    events = activity_events(await history(handle))
    assert names(events) == ["ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_STARTED", "ACTIVITY_TASK_COMPLETED"]
    completed = events[2].activity_task_completed_event_attributes
    assert decode(completed.result) == ["done elsewhere"]
    assert completed.identity == client.identity


@pytest.mark.parametrize("how", ["token", "id"])
async def test_async_failure_is_retried_then_fails_the_activity(
    client: Client, task_queue: str, workflow_id: str, how: str
) -> None:
    external = External()
    async with activity_worker(client, task_queue, [external.run]):
        call = ActivityCall("external", start_to_close_ms=30_000, maximum_attempts=2)
        handle = await _run(client, workflow_id, task_queue, call)
        first_token = await external.next_token()
        await async_handle(client, how, first_token, handle).fail(ApplicationError("external 1", type="Ext"))
        # The failure is retried like any other: the activity runs again, with a new token.
        second_token = await external.next_token()
        assert second_token != first_token
        # The first attempt's token is stale now.
        stale = client.get_async_activity_handle(task_token=first_token)
        assert await rpc_error(stale.complete("too late")) == NOT_FOUND
        await async_handle(client, how, second_token, handle).fail(
            ApplicationError("external 2", "why", type="Ext"),
        )
        outcome: Outcome = await handle.result()

    assert outcome == Outcome(
        error="ActivityError",
        retry_state="MAXIMUM_ATTEMPTS_REACHED",
        cause="ApplicationError",
        cause_message="external 2",
        application_type="Ext",
        non_retryable=False,
        details=["why"],
    )
    events = activity_events(await history(handle))
    assert names(events) == ["ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_STARTED", "ACTIVITY_TASK_FAILED"]
    started = events[1].activity_task_started_event_attributes
    assert (started.attempt, started.last_failure.message) == (2, "external 1")
    failed = events[2].activity_task_failed_event_attributes
    assert failed.failure.message == "external 2"
    assert failed.retry_state == RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED


@pytest.mark.parametrize("how", ["token", "id"])
async def test_async_report_cancellation(client: Client, task_queue: str, workflow_id: str, how: str) -> None:
    external = External()
    async with activity_worker(client, task_queue, [external.run]):
        call = ActivityCall(
            "external", start_to_close_ms=30_000, cancellation_type="WAIT_CANCELLATION_COMPLETED"
        )
        handle = await _start_cancel_workflow(client, workflow_id, task_queue, call)
        completer = async_handle(client, how, await external.next_token(), handle)
        await handle.signal(CancelActivityWorkflow.cancel)
        await _wait_for_activity_events(handle, ["ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_CANCEL_REQUESTED"])
        # A heartbeat is how an external completer learns of the request.
        with pytest.raises(AsyncActivityCancelledError):
            await completer.heartbeat("still here")
        assert await _state(handle) == "cancel-requested"
        await completer.report_cancellation("cleaned up")

        async def resolved() -> None:
            assert await _state(handle) == "resolved"

        await assert_eventually(resolved)
        await handle.signal(CancelActivityWorkflow.finish)
        outcome: Outcome = await handle.result()

    _assert_cancelled(outcome)
    assert outcome.details == ["cleaned up"]
    events = activity_events(await history(handle))
    assert names(events) == [
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_CANCEL_REQUESTED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_CANCELED",
    ]
    assert decode(events[3].activity_task_canceled_event_attributes.details) == ["cleaned up"]


async def test_malformed_and_unknown_activity_addresses(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    service, namespace = client.workflow_service, client.namespace
    # Not a token at all: the server cannot decode it.
    garbage = client.get_async_activity_handle(task_token=b"\x00not a task token")
    assert await rpc_code(garbage.complete("x")) == RPCStatusCode.INVALID_ARGUMENT
    assert await rpc_code(garbage.heartbeat("x")) == RPCStatusCode.INVALID_ARGUMENT
    for token in (b"garbage", b""):
        raw = RespondActivityTaskCompletedRequest(namespace=namespace, task_token=token, identity="t")
        assert await rpc_code(service.respond_activity_task_completed(raw)) == RPCStatusCode.INVALID_ARGUMENT
    by_id = RespondActivityTaskCompletedByIdRequest(
        namespace=namespace, workflow_id=workflow_id, activity_id=""
    )
    assert (
        await rpc_code(service.respond_activity_task_completed_by_id(by_id)) == RPCStatusCode.INVALID_ARGUMENT
    )

    # Well-formed addresses of things that do not exist.
    missing_workflow = client.get_async_activity_handle(workflow_id=workflow_id, run_id=None, activity_id="1")
    assert await rpc_error(missing_workflow.complete("x")) == NOT_FOUND

    external = External()
    async with activity_worker(client, task_queue, [external.run]):
        handle = await _run(
            client, workflow_id, task_queue, ActivityCall("external", start_to_close_ms=30_000)
        )
        await external.next_token()
        run_id = handle.result_run_id
        missing_activity = client.get_async_activity_handle(
            workflow_id=workflow_id, run_id=run_id, activity_id="no-such-activity"
        )
        assert await rpc_error(missing_activity.complete("x")) == NOT_FOUND
        missing_run = client.get_async_activity_handle(
            workflow_id=workflow_id, run_id=str(uuid.uuid4()), activity_id="1"
        )
        assert await rpc_error(missing_run.complete("x")) == NOT_FOUND
        await handle.terminate("done with this test")
    # A closed run's activity is gone too, however it is addressed.
    closed = client.get_async_activity_handle(workflow_id=workflow_id, run_id=None, activity_id="1")
    assert await rpc_error(closed.complete("x")) == NOT_FOUND
