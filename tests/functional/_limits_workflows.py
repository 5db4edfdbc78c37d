"""Workflows and activities the limit tests run: each one writes an oversized payload or grows its history.

They live in their own module because the workflow sandbox re-imports a workflow's module; keeping it free of
pytest and test code keeps that import cheap and deterministic.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

# The limit tests run a server with limit.blobSize.error=10000: BIG is over it in any encoding, SMALL_CHUNK is
# under it but a few of them pass the history size limits.
BLOB_LIMIT = 10_000
BIG = "x" * 12_000
SMALL_CHUNK = 4_000

_ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)


@activity.defn(name="echo")
async def echo(value: str) -> str:
    return value


@activity.defn(name="big_result")
async def big_result() -> str:
    return BIG


@activity.defn(name="noop")
async def noop() -> None:
    return None


@activity.defn(name="chunk")
async def chunk() -> str:
    return "y" * SMALL_CHUNK


ACTIVITIES = [echo, big_result, noop, chunk]


@workflow.defn
class BigActivityInputWorkflow:
    """Schedules an activity whose input is over the blob limit (an oversized ScheduleActivityTask)."""

    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            echo, BIG, start_to_close_timeout=timedelta(seconds=5), retry_policy=_ONE_ATTEMPT
        )


@workflow.defn
class BigResultWorkflow:
    """Completes with a result over the blob limit."""

    @workflow.run
    async def run(self) -> str:
        return BIG


@workflow.defn
class BigFailureMessageWorkflow:
    """Fails with a failure whose message is over the blob limit."""

    @workflow.run
    async def run(self) -> str:
        raise ApplicationError(BIG, non_retryable=True)


@workflow.defn
class BigFailureDetailsWorkflow:
    """Fails with a short message but failure details over the blob limit."""

    @workflow.run
    async def run(self) -> str:
        raise ApplicationError("small message", BIG, non_retryable=True)


@workflow.defn
class CallActivityWorkflow:
    """Calls one activity once (no retries) and returns its result; its failure fails the workflow."""

    @workflow.run
    async def run(self, name: str) -> str:
        result: str = await workflow.execute_activity(
            name, start_to_close_timeout=timedelta(seconds=10), retry_policy=_ONE_ATTEMPT
        )
        return result


@workflow.defn
class TimerLoopWorkflow:
    """Sleeps `iterations` short timers: five events (timer + workflow task) per iteration."""

    @workflow.run
    async def run(self, iterations: int) -> None:
        for _ in range(iterations):
            await workflow.sleep(timedelta(milliseconds=10))


@workflow.defn
class ActivityLoopWorkflow:
    """Runs `iterations` activities one after another: six events per iteration."""

    @workflow.run
    async def run(self, activity_name: str, iterations: int) -> None:
        for _ in range(iterations):
            await workflow.execute_activity(
                activity_name, start_to_close_timeout=timedelta(seconds=5), retry_policy=_ONE_ATTEMPT
            )


@workflow.defn
class SuggestWorkflow:
    """Reports what its first workflow task saw: continue-as-new suggested, history length and size."""

    @workflow.signal
    def poke(self, value: str) -> None:
        pass

    @workflow.run
    async def run(self) -> tuple[bool, int, int]:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested(),
            info.get_current_history_length(),
            info.get_current_history_size(),
        )


WORKFLOWS = [
    BigActivityInputWorkflow,
    BigResultWorkflow,
    BigFailureMessageWorkflow,
    BigFailureDetailsWorkflow,
    CallActivityWorkflow,
    TimerLoopWorkflow,
    ActivityLoopWorkflow,
    SuggestWorkflow,
]
