"""Workflows the activity tests run: call one activity as described, and report what the workflow saw.

They live in their own module because the workflow sandbox re-imports a workflow's module; keeping it free of
pytest and test code keeps that import cheap and deterministic. Timeouts travel as milliseconds because the
default JSON converter has no timedelta encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, TimeoutError
from temporalio.workflow import ActivityCancellationType


def _ms(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(milliseconds=value)


@dataclass
class ActivityCall:
    """One activity invocation: what to call, where, and with which timeouts and retry policy."""

    activity: str
    args: list[Any] = field(default_factory=list)
    task_queue: str | None = None
    schedule_to_close_ms: int | None = None
    schedule_to_start_ms: int | None = None
    start_to_close_ms: int | None = 5_000
    heartbeat_ms: int | None = None
    initial_interval_ms: int = 100
    backoff: float = 2.0
    maximum_interval_ms: int | None = None
    maximum_attempts: int = 0
    non_retryable_error_types: list[str] = field(default_factory=list)
    cancellation_type: str = "TRY_CANCEL"

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=timedelta(milliseconds=self.initial_interval_ms),
            backoff_coefficient=self.backoff,
            maximum_interval=_ms(self.maximum_interval_ms),
            maximum_attempts=self.maximum_attempts,
            non_retryable_error_types=self.non_retryable_error_types or None,
        )


@dataclass
class Outcome:
    """What the workflow code observed: a result, or the ActivityError and its cause, flattened."""

    result: Any = None
    error: str | None = None
    retry_state: str | None = None
    cause: str | None = None
    cause_message: str | None = None
    application_type: str | None = None
    non_retryable: bool | None = None
    timeout_type: str | None = None
    details: list[Any] = field(default_factory=list)


def _describe(err: ActivityError) -> Outcome:
    cause = err.cause
    outcome = Outcome(
        error=type(err).__name__,
        retry_state=err.retry_state.name if err.retry_state is not None else None,
        cause=type(cause).__name__ if cause is not None else None,
        cause_message=cause.message
        if isinstance(cause, ApplicationError | TimeoutError | CancelledError)
        else None,
    )
    if isinstance(cause, ApplicationError):
        outcome.application_type = cause.type
        outcome.non_retryable = cause.non_retryable
        outcome.details = list(cause.details)
    elif isinstance(cause, TimeoutError):
        outcome.timeout_type = cause.type.name if cause.type is not None else None
        outcome.details = list(cause.last_heartbeat_details)
    elif isinstance(cause, CancelledError):
        outcome.details = list(cause.details)
    return outcome


def _start(call: ActivityCall) -> workflow.ActivityHandle[Any]:
    return workflow.start_activity(
        call.activity,
        args=call.args,
        task_queue=call.task_queue,
        schedule_to_close_timeout=_ms(call.schedule_to_close_ms),
        schedule_to_start_timeout=_ms(call.schedule_to_start_ms),
        start_to_close_timeout=_ms(call.start_to_close_ms),
        heartbeat_timeout=_ms(call.heartbeat_ms),
        retry_policy=call.retry_policy(),
        cancellation_type=ActivityCancellationType[call.cancellation_type],
    )


@workflow.defn
class CallActivityWorkflow:
    """Run one activity to its end and return what the workflow saw."""

    @workflow.run
    async def run(self, call: ActivityCall) -> Outcome:
        try:
            return Outcome(result=await _start(call))
        except ActivityError as err:
            return _describe(err)


@workflow.defn
class CancelActivityWorkflow:
    """Start an activity, cancel it on the `cancel` signal, and finish on the `finish` signal.

    Waiting for `finish` keeps the run open after the workflow has seen the cancellation, so a test can
    look at what the server records for the activity afterwards (a late cancel acknowledgement, say).
    """

    def __init__(self) -> None:
        self._cancel = False
        self._finish = False
        self._state = "running"

    @workflow.run
    async def run(self, call: ActivityCall) -> Outcome:
        handle = _start(call)
        await workflow.wait_condition(lambda: self._cancel)
        handle.cancel()
        self._state = "cancel-requested"
        try:
            outcome = Outcome(result=await handle)
        except ActivityError as err:
            outcome = _describe(err)
        self._state = "resolved"
        await workflow.wait_condition(lambda: self._finish)
        return outcome

    @workflow.signal
    def cancel(self) -> None:
        self._cancel = True

    @workflow.signal
    def finish(self) -> None:
        self._finish = True

    @workflow.query
    def state(self) -> str:
        return self._state
