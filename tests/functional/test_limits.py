"""Payload and history limits, driven by the real SDK against a server started with small limits.

Observed on the real dev server (temporal CLI 1.9.1, server 1.32.0) with limit.blobSize.warn=5000,
limit.blobSize.error=10000, limit.historyCount.error=40, limit.historyCount.suggestContinueAsNew=20,
limit.historySize.error=20000, limit.historySize.suggestContinueAsNew=12000.

Blob size. The check is on the whole `Payloads` message of one field (all its payloads together): ByteSize()
== limit passes, limit + 1 fails. A blob fails only if it is over limit.blobSize.error AND over
limit.blobSize.warn: with warn left at its 512 KiB default, error=10000 lets a 12 kB input through and only
refuses blobs over 512 KiB. Every check below behaves that way.
- StartWorkflowExecution, SignalWorkflowExecution, SignalWithStartWorkflowExecution with an input over it:
  INVALID_ARGUMENT "Blob data size exceeds limit.", no error details. Nothing is created or written.
- DescribeNamespace reports namespace_info.limits {blob_size_limit_error: 10000, memo_size_limit_error:
  2097152, workflow_task_completion_size_limit_error: 41943040}. By default the SDK worker (temporalio 1.35)
  checks its own commands against these limits. It fails the workflow task itself (cause PAYLOADS_TOO_LARGE,
  failure {message "[TMPRL1103] Attempted to upload payloads with size that exceeded the error limit.",
  application_failure_info {type "PayloadsTooLarge"}}), so the oversized command never reaches the server.
  The run stays RUNNING and keeps retrying the task. The other tests set `disable_payload_error_limit=True`
  so that the server's own checks run.
- A workflow task completion with an oversized command: RespondWorkflowTaskCompleted fails with
  INVALID_ARGUMENT <message>, and the server writes
    4 WORKFLOW_TASK_FAILED {scheduled 2, started 3, cause, failure {message <message>,
                            server_failure_info {}}, identity <the worker's>}
    5 WORKFLOW_EXECUTION_TERMINATED {reason <message>, identity "history-service"}
  ScheduleActivityTask input: cause BAD_SCHEDULE_ACTIVITY_ATTRIBUTES,
    "BadScheduleActivityAttributes: ScheduleActivityTaskCommandAttributes.Input exceeds size limit."
  CompleteWorkflowExecution result: cause BAD_SCHEDULE_ACTIVITY_ATTRIBUTES (sic),
    "BadScheduleActivityAttributes: CompleteWorkflowExecutionCommandAttributes.Result exceeds size limit."
  FailWorkflowExecution failure (huge message, or huge details): BAD_FAIL_WORKFLOW_EXECUTION_ATTRIBUTES,
    "BadFailWorkflowExecutionAttributes: FailWorkflowExecutionCommandAttributes.Failure exceeds size limit."
- Activity side: the RPC succeeds (no error reaches the worker or client). The server fails the activity
  and does not retry it: ACTIVITY_TASK_STARTED {attempt 1}, then ACTIVITY_TASK_FAILED {failure {message M,
  server_failure_info {non_retryable: true}}, retry_state NON_RETRYABLE_FAILURE, identity <responder's>},
  then a workflow task.
    RespondActivityTaskCompleted, result over limit:  M = "Complete result exceeds size limit."
    RecordActivityTaskHeartbeat, details over limit:  M = "Heartbeat details exceed size limit." The
      heartbeat response has cancel_requested=true, so the SDK raises AsyncActivityCancelledError.
    RespondActivityTaskFailed, failure over limit:    M = "Failure exceeds size limit.". Its `cause` is
      the original failure cut down: message truncated (4987 of 12000 chars here), stack trace and details
      dropped. RespondActivityTaskFailedResponse.failures carries this replacement failure.

History count (limit.historyCount.error = N = 40). After a transaction's events are added, if the run would
have more than N events, the server discards the transaction. It writes WORKFLOW_EXECUTION_TERMINATED
{reason "Workflow history count exceeds limit.", identity "history-service"} instead. A started workflow
task is closed first with WORKFLOW_TASK_FAILED {cause FORCE_CLOSE_COMMAND, identity "history-service"}.
- Timer loop (5 events per iteration): events 1-40 end with 40 TIMER_STARTED. The timer firing would add
  TIMER_FIRED + WORKFLOW_TASK_SCHEDULED (42 events), so 41 WORKFLOW_EXECUTION_TERMINATED is written instead.
- Activity loop (6 events per iteration): 39 is a WORKFLOW_TASK_STARTED. Its completion
  (WORKFLOW_TASK_COMPLETED + ACTIVITY_TASK_SCHEDULED, 41 events) is refused: RespondWorkflowTaskCompleted
  gets INVALID_ARGUMENT "Workflow history count exceeds limit.". The server writes 40 WORKFLOW_TASK_FAILED
  {scheduled 38, started 39, FORCE_CLOSE_COMMAND, identity "history-service"} and 41
  WORKFLOW_EXECUTION_TERMINATED.
- A workflow task start that would make event N+1: no poll gets the task. TERMINATED is written as event
  N+1.
- A signal to a run whose workflow task is already scheduled is a buffered event, so the check does not
  count it in the signal's own transaction. With 40 events a signal is accepted as event 41. The next
  signal gets INVALID_ARGUMENT "Workflow history count exceeds limit." and 42 WORKFLOW_EXECUTION_TERMINATED
  is written.

History size (limit.historySize.error = 20000). The check uses the size already stored, before the new
transaction. A transaction on a run whose stored history is over the limit is refused and the run
terminated with reason "Workflow history size exceeds limit." (identity "history-service"). A refused signal
gets INVALID_ARGUMENT "Workflow history size exceeds limit.". Signals of ~4 kB: five are accepted (stored
size 20523 after the fifth); the sixth is refused. Activities returning 4000-char results: the 5th
ACTIVITY_TASK_COMPLETED and the WORKFLOW_TASK_SCHEDULED after it (event 32) are written, because the stored
size before them was ~18.6 kB. Starting that workflow task is refused: 33 WORKFLOW_EXECUTION_TERMINATED.

Continue-as-new suggestion. WORKFLOW_TASK_STARTED has suggest_continue_as_new=true once its own event id is
>= limit.historyCount.suggestContinueAsNew (id 19: false, id 20: true), with reasons
[TOO_MANY_HISTORY_EVENTS]. It is also true once its history_size_bytes is past
limit.historySize.suggestContinueAsNew, with reason HISTORY_SIZE_TOO_LARGE; that reason comes before
TOO_MANY_HISTORY_EVENTS when both hold. In the SDK, workflow.info().is_continue_as_new_suggested() returns
the flag, get_current_history_length() the WORKFLOW_TASK_STARTED event id, and get_current_history_size()
its history_size_bytes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType, RetryState, SuggestContinueAsNewReason, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import (
    AsyncActivityCancelledError,
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.converter import DataConverter
from temporalio.exceptions import ActivityError, ApplicationError, TerminatedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from tempyral.testing.servers import ServerKind, ServerProcess
from tests.functional._limits_workflows import (
    ACTIVITIES,
    BIG,
    BLOB_LIMIT,
    SMALL_CHUNK,
    WORKFLOWS,
    ActivityLoopWorkflow,
    BigActivityInputWorkflow,
    BigFailureDetailsWorkflow,
    BigFailureMessageWorkflow,
    BigResultWorkflow,
    CallActivityWorkflow,
    SuggestWorkflow,
    TimerLoopWorkflow,
)
from tests.helpers.eventually import assert_eventually

SERVER_KIND: ServerKind = "temporal" if os.environ.get("TEMPYRAL_TEST_SERVER") == "temporal" else "tempyral"

COUNT_LIMIT = 40
COUNT_SUGGEST = 20
SIZE_LIMIT = 20_000
SIZE_SUGGEST = 12_000
LIMITS: dict[str, int] = {
    # The real server only applies the error limit to blobs that are also over the warn limit (512 KiB by
    # default), so the warn limit has to come down too.
    "limit.blobSize.warn": BLOB_LIMIT // 2,
    "limit.blobSize.error": BLOB_LIMIT,
    "limit.historyCount.error": COUNT_LIMIT,
    "limit.historyCount.suggestContinueAsNew": COUNT_SUGGEST,
    "limit.historySize.error": SIZE_LIMIT,
    "limit.historySize.suggestContinueAsNew": SIZE_SUGGEST,
}

BLOB_MESSAGE = "Blob data size exceeds limit."
COUNT_MESSAGE = "Workflow history count exceeds limit."
SIZE_MESSAGE = "Workflow history size exceeds limit."
SERVER_IDENTITY = "history-service"


@pytest.fixture(scope="module")
def limits_server() -> Iterator[ServerProcess]:
    """A server of its own: the limits are tiny so that tests reach them in a few events."""
    extra_args: list[str] = []
    for key, value in LIMITS.items():
        extra_args += ["--dynamic-config-value", f"{key}={value}"]
    process = ServerProcess(kind=SERVER_KIND, extra_args=extra_args).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
async def limits_client(limits_server: ServerProcess) -> AsyncIterator[Client]:
    yield await Client.connect(limits_server.address, namespace="default")


def limits_worker(client: Client, task_queue: str, *, sdk_checks: bool = False, **kwargs: Any) -> Worker:
    """A worker for every limit workflow. The SDK checks payload sizes itself unless told not to; the tests
    switch that off (`sdk_checks=False`) so that the oversized commands reach the server."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=kwargs.pop("activities", ACTIVITIES),
        disable_payload_error_limit=not sdk_checks,
        **kwargs,
    )


def name(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


async def events(handle: WorkflowHandle[Any, Any]) -> list[HistoryEvent]:
    return list((await handle.fetch_history()).events)


def names(history: Sequence[HistoryEvent]) -> list[str]:
    return [name(event) for event in history]


def json_payloads_size(value: Any) -> int:
    """Size of the `Payloads` the SDK client sends for one argument: what the server compares to the limit."""
    payloads = DataConverter.default.payload_converter.to_payloads([value])
    return Payloads(payloads=payloads).ByteSize()


def string_of_payload_size(size: int) -> str:
    """A string whose JSON `Payloads` is exactly `size` bytes."""
    length = size
    while json_payloads_size("x" * length) > size:
        length -= 1
    assert json_payloads_size("x" * length) == size
    return "x" * length


async def rpc_error(call: Any) -> RPCError:
    with pytest.raises(RPCError) as caught:
        await call
    return caught.value


async def terminated_by_server(handle: WorkflowHandle[Any, Any], reason: str) -> None:
    """The run ends TERMINATED with `reason`, and the SDK's result() says so."""
    with pytest.raises(WorkflowFailureError) as caught:
        await asyncio.wait_for(handle.result(), 20)
    assert isinstance(caught.value.cause, TerminatedError)
    assert caught.value.cause.message == reason
    final = (await events(handle))[-1]
    assert name(final) == "WORKFLOW_EXECUTION_TERMINATED"
    attributes = final.workflow_execution_terminated_event_attributes
    assert (attributes.reason, attributes.identity) == (reason, SERVER_IDENTITY)


# --- Blob size: client requests -------------------------------------------------------------------------


async def test_start_input_blob_limit(limits_client: Client, workflow_id: str, task_queue: str) -> None:
    # Exactly at the limit is accepted: the check is "size > limit" on the whole Payloads message.
    at_limit = string_of_payload_size(BLOB_LIMIT)
    handle = await limits_client.start_workflow(
        "SuggestWorkflow", at_limit, id=workflow_id, task_queue=task_queue
    )
    await handle.terminate()

    over_id = f"{workflow_id}-over"
    error = await rpc_error(
        limits_client.start_workflow("SuggestWorkflow", at_limit + "x", id=over_id, task_queue=task_queue)
    )
    assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, BLOB_MESSAGE)
    assert list(error.grpc_status.details) == []
    # Two arguments each under the limit but together over it are refused too.
    half = "x" * (BLOB_LIMIT // 2)
    error = await rpc_error(
        limits_client.start_workflow("SuggestWorkflow", args=[half, half], id=over_id, task_queue=task_queue)
    )
    assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, BLOB_MESSAGE)
    # Nothing was started.
    missing = await rpc_error(limits_client.get_workflow_handle(over_id).describe())
    assert missing.status == RPCStatusCode.NOT_FOUND


async def test_signal_input_blob_limit(limits_client: Client, workflow_id: str, task_queue: str) -> None:
    handle = await limits_client.start_workflow(SuggestWorkflow.run, id=workflow_id, task_queue=task_queue)
    error = await rpc_error(handle.signal(SuggestWorkflow.poke, BIG))
    assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, BLOB_MESSAGE)
    assert list(error.grpc_status.details) == []
    assert names(await events(handle)) == ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED"]
    await handle.terminate()


async def test_signal_with_start_input_blob_limit(
    limits_client: Client, workflow_id: str, task_queue: str
) -> None:
    # Signal-with-start checks the signal input the same way and starts nothing.
    error = await rpc_error(
        limits_client.start_workflow(
            SuggestWorkflow.run,
            id=workflow_id,
            task_queue=task_queue,
            start_signal="poke",
            start_signal_args=[BIG],
        )
    )
    assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, BLOB_MESSAGE)
    missing = await rpc_error(limits_client.get_workflow_handle(workflow_id).describe())
    assert missing.status == RPCStatusCode.NOT_FOUND


async def test_error_limit_applies_only_over_warn_limit(workflow_id: str, task_queue: str) -> None:
    # With limit.blobSize.warn left at its 512 KiB default, the real server lets a payload over a smaller
    # error limit through: it checks the error limit only for blobs that are over the warn limit as well.
    with ServerProcess(
        kind=SERVER_KIND, extra_args=["--dynamic-config-value", f"limit.blobSize.error={BLOB_LIMIT}"]
    ) as server:
        client = await Client.connect(server.address, namespace="default")
        handle = await client.start_workflow("SuggestWorkflow", BIG, id=workflow_id, task_queue=task_queue)
        assert json_payloads_size(BIG) > BLOB_LIMIT
        await handle.terminate()
        over_warn = "x" * (512 * 1024)
        error = await rpc_error(
            client.start_workflow("SuggestWorkflow", over_warn, id=f"{workflow_id}-2", task_queue=task_queue)
        )
        assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, BLOB_MESSAGE)


async def test_namespace_advertises_blob_limit(limits_client: Client) -> None:
    # SDK workers read these and check their own commands against them (see the next test).
    described = await limits_client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )
    limits = described.namespace_info.limits
    assert limits.blob_size_limit_error == BLOB_LIMIT
    assert limits.memo_size_limit_error == 2 * 1024 * 1024


# --- Blob size: workflow task commands ----------------------------------------------------------------


async def test_sdk_fails_its_own_task_when_limit_is_advertised(
    limits_client: Client, workflow_id: str, task_queue: str
) -> None:
    # With its default checks on, the SDK never sends the oversized command: it fails the task itself and
    # the run stays open, retrying the task.
    async with limits_worker(limits_client, task_queue, sdk_checks=True):
        handle = await limits_client.start_workflow(
            BigResultWorkflow.run, id=workflow_id, task_queue=task_queue
        )

        async def task_failed() -> HistoryEvent:
            history = await events(handle)
            failed = [event for event in history if name(event) == "WORKFLOW_TASK_FAILED"]
            assert failed, names(history)
            return failed[0]

        failed = await assert_eventually(task_failed)
        attributes = failed.workflow_task_failed_event_attributes
        assert attributes.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_PAYLOADS_TOO_LARGE
        assert attributes.failure.application_failure_info.type == "PayloadsTooLarge"
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        await handle.terminate()


SCHEDULE_INPUT_MESSAGE = (
    "BadScheduleActivityAttributes: ScheduleActivityTaskCommandAttributes.Input exceeds size limit."
)
COMPLETE_RESULT_MESSAGE = (
    "BadScheduleActivityAttributes: CompleteWorkflowExecutionCommandAttributes.Result exceeds size limit."
)
FAIL_FAILURE_MESSAGE = (
    "BadFailWorkflowExecutionAttributes: FailWorkflowExecutionCommandAttributes.Failure exceeds size limit."
)
COMMAND_CASES = [
    pytest.param(
        BigActivityInputWorkflow,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES,
        SCHEDULE_INPUT_MESSAGE,
        id="schedule-activity-input",
    ),
    pytest.param(
        BigResultWorkflow,
        # Not a typo here: the real server reports a too-big workflow result with this cause.
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_SCHEDULE_ACTIVITY_ATTRIBUTES,
        COMPLETE_RESULT_MESSAGE,
        id="complete-result",
    ),
    pytest.param(
        BigFailureMessageWorkflow,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_FAIL_WORKFLOW_EXECUTION_ATTRIBUTES,
        FAIL_FAILURE_MESSAGE,
        id="fail-message",
    ),
    pytest.param(
        BigFailureDetailsWorkflow,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_BAD_FAIL_WORKFLOW_EXECUTION_ATTRIBUTES,
        FAIL_FAILURE_MESSAGE,
        id="fail-details",
    ),
]


@pytest.mark.parametrize(("workflow", "cause", "message"), COMMAND_CASES)
async def test_oversized_command_terminates_workflow(
    limits_client: Client, workflow_id: str, task_queue: str, workflow: type, cause: int, message: str
) -> None:
    async with limits_worker(limits_client, task_queue):
        handle = await limits_client.start_workflow(workflow.run, id=workflow_id, task_queue=task_queue)  # type: ignore[attr-defined]
        await terminated_by_server(handle, message)
    history = await events(handle)
    assert names(history) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_FAILED",
        "WORKFLOW_EXECUTION_TERMINATED",
    ]
    failed = history[3].workflow_task_failed_event_attributes
    assert (failed.scheduled_event_id, failed.started_event_id, failed.cause) == (2, 3, cause)
    assert failed.failure.message == message
    assert failed.failure.HasField("server_failure_info")
    assert failed.identity == limits_client.identity


# --- Blob size: activity results, heartbeats and failures --------------------------------------------------


def activity_failed(history: Sequence[HistoryEvent]) -> HistoryEvent:
    failed = [event for event in history if name(event) == "ACTIVITY_TASK_FAILED"]
    assert len(failed) == 1, names(history)
    return failed[0]


async def test_activity_result_over_limit(limits_client: Client, workflow_id: str, task_queue: str) -> None:
    async with limits_worker(limits_client, task_queue):
        handle = await limits_client.start_workflow(
            CallActivityWorkflow.run, "big_result", id=workflow_id, task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await asyncio.wait_for(handle.result(), 20)
    assert isinstance(caught.value.cause, ActivityError)
    assert str(caught.value.cause.cause) == "Complete result exceeds size limit."
    history = await events(handle)
    assert names(history)[4:8] == [
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_FAILED",
        "WORKFLOW_TASK_SCHEDULED",
    ]
    failed = history[6].activity_task_failed_event_attributes
    assert failed.failure.message == "Complete result exceeds size limit."
    assert failed.failure.server_failure_info.non_retryable
    assert failed.retry_state == RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
    assert (failed.scheduled_event_id, failed.started_event_id) == (5, 6)
    assert failed.identity == limits_client.identity
    assert history[5].activity_task_started_event_attributes.attempt == 1


class ExternalActivity:
    """An activity that hands its task token to the test and leaves completion to the client."""

    def __init__(self) -> None:
        self.tokens: asyncio.Queue[bytes] = asyncio.Queue()

    @activity.defn(name="external")
    async def run(self) -> str:
        await self.tokens.put(activity.info().task_token)
        activity.raise_complete_async()


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        ("complete", "Complete result exceeds size limit."),
        ("heartbeat", "Heartbeat details exceed size limit."),
        ("fail", "Failure exceeds size limit."),
    ],
)
async def test_async_activity_payload_over_limit(
    limits_client: Client, workflow_id: str, task_queue: str, operation: str, message: str
) -> None:
    external = ExternalActivity()
    async with limits_worker(limits_client, task_queue, activities=[external.run]):
        handle = await limits_client.start_workflow(
            CallActivityWorkflow.run, "external", id=workflow_id, task_queue=task_queue
        )
        token = await asyncio.wait_for(external.tokens.get(), 10)
        activity_handle = limits_client.get_async_activity_handle(task_token=token)
        # The call itself succeeds: the server fails the activity instead of refusing the request.
        if operation == "complete":
            await activity_handle.complete(BIG)
        elif operation == "heartbeat":
            # ...and answers the heartbeat with cancel_requested=true, since the activity is already gone.
            with pytest.raises(AsyncActivityCancelledError) as cancelled:
                await activity_handle.heartbeat(BIG)
            assert cancelled.value.details is not None and cancelled.value.details.cancel_requested
        else:
            await activity_handle.fail(ApplicationError(BIG, type="Huge"))
        with pytest.raises(WorkflowFailureError) as caught:
            await asyncio.wait_for(handle.result(), 20)
    assert isinstance(caught.value.cause, ActivityError)
    assert str(caught.value.cause.cause) == message
    failed = activity_failed(await events(handle)).activity_task_failed_event_attributes
    assert failed.failure.message == message
    assert failed.failure.server_failure_info.non_retryable
    assert failed.retry_state == RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
    if operation == "fail":
        # The original failure survives as the cause, cut down to fit.
        original = failed.failure.cause
        assert original.application_failure_info.type == "Huge"
        assert 0 < len(original.message) < len(BIG)
        assert BIG.startswith(original.message)
    else:
        assert not failed.failure.HasField("cause")


# --- History count ------------------------------------------------------------------------------------


def assert_suggest_flags(history: Sequence[HistoryEvent]) -> None:
    """Every WORKFLOW_TASK_STARTED suggests continue-as-new exactly when its event id reaches the setting."""
    for event in history:
        if name(event) != "WORKFLOW_TASK_STARTED":
            continue
        attributes = event.workflow_task_started_event_attributes
        expected = event.event_id >= COUNT_SUGGEST
        assert attributes.suggest_continue_as_new == expected, event.event_id
        reasons = [
            SuggestContinueAsNewReason.Name(reason) for reason in attributes.suggest_continue_as_new_reasons
        ]
        assert reasons == (["SUGGEST_CONTINUE_AS_NEW_REASON_TOO_MANY_HISTORY_EVENTS"] if expected else [])


async def test_history_count_limit_timer_loop(
    limits_client: Client, workflow_id: str, task_queue: str
) -> None:
    async with limits_worker(limits_client, task_queue):
        handle = await limits_client.start_workflow(
            TimerLoopWorkflow.run, 20, id=workflow_id, task_queue=task_queue
        )
        await terminated_by_server(handle, COUNT_MESSAGE)
    history = await events(handle)
    loop = [
        "TIMER_STARTED",
        "TIMER_FIRED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
    ]
    # 40 events end with the 8th TIMER_STARTED; its firing would make 42, so the run is terminated instead.
    assert names(history) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        *(loop * 7),
        "TIMER_STARTED",
        "WORKFLOW_EXECUTION_TERMINATED",
    ]
    assert_suggest_flags(history)


async def test_history_count_limit_activity_loop(
    limits_client: Client, workflow_id: str, task_queue: str
) -> None:
    async with limits_worker(limits_client, task_queue):
        handle = await limits_client.start_workflow(
            ActivityLoopWorkflow.run, args=["noop", 20], id=workflow_id, task_queue=task_queue
        )
        await terminated_by_server(handle, COUNT_MESSAGE)
    history = await events(handle)
    loop = [
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_COMPLETED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
    ]
    # The completion of the task started as event 39 would add two events (41): it is refused, the task is
    # force-failed and the run terminated.
    assert names(history) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        *(loop * 5),
        *loop[:5],
        "WORKFLOW_TASK_FAILED",
        "WORKFLOW_EXECUTION_TERMINATED",
    ]
    failed = history[39].workflow_task_failed_event_attributes
    assert (failed.scheduled_event_id, failed.started_event_id) == (38, 39)
    assert failed.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND
    assert failed.identity == SERVER_IDENTITY
    assert_suggest_flags(history)


async def test_signals_past_history_count_limit(
    limits_client: Client, workflow_id: str, task_queue: str
) -> None:
    # No worker: the first workflow task stays scheduled, so each signal adds exactly one event.
    handle = await limits_client.start_workflow(SuggestWorkflow.run, id=workflow_id, task_queue=task_queue)
    for _ in range(COUNT_LIMIT - 1):
        await handle.signal(SuggestWorkflow.poke, "")
    # Events 3..41 are the signals: the last one took the run past the limit and was still accepted.
    assert (await handle.describe()).history_length == COUNT_LIMIT + 1
    error = await rpc_error(handle.signal(SuggestWorkflow.poke, ""))
    assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, COUNT_MESSAGE)
    history = await events(handle)
    assert len(history) == COUNT_LIMIT + 2
    assert names(history)[-2:] == ["WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_EXECUTION_TERMINATED"]
    await terminated_by_server(handle, COUNT_MESSAGE)


async def test_task_start_past_history_count_limit(
    limits_client: Client, workflow_id: str, task_queue: str
) -> None:
    # 38 signals make 40 events with the first workflow task still scheduled: starting it would make 41, so
    # the worker never gets it and the run is terminated as event 41.
    handle = await limits_client.start_workflow(SuggestWorkflow.run, id=workflow_id, task_queue=task_queue)
    for _ in range(COUNT_LIMIT - 2):
        await handle.signal(SuggestWorkflow.poke, "")
    async with limits_worker(limits_client, task_queue):
        await terminated_by_server(handle, COUNT_MESSAGE)
    history = await events(handle)
    assert len(history) == COUNT_LIMIT + 1
    assert names(history)[-2:] == ["WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_EXECUTION_TERMINATED"]


@pytest.mark.parametrize("signals", [COUNT_SUGGEST - 4, COUNT_SUGGEST - 3])
async def test_continue_as_new_suggested_by_count(
    limits_client: Client, workflow_id: str, task_queue: str, signals: int
) -> None:
    # Signals sent before any worker polls put the first WORKFLOW_TASK_STARTED at event id 3 + signals.
    handle = await limits_client.start_workflow(SuggestWorkflow.run, id=workflow_id, task_queue=task_queue)
    for _ in range(signals):
        await handle.signal(SuggestWorkflow.poke, "")
    async with limits_worker(limits_client, task_queue):
        suggested, length, size = await asyncio.wait_for(handle.result(), 20)
    started = next(event for event in await events(handle) if name(event) == "WORKFLOW_TASK_STARTED")
    assert started.event_id == length == 3 + signals
    expected = started.event_id >= COUNT_SUGGEST
    attributes = started.workflow_task_started_event_attributes
    assert suggested == attributes.suggest_continue_as_new == expected
    assert size == attributes.history_size_bytes
    reasons = [
        SuggestContinueAsNewReason.Name(reason) for reason in attributes.suggest_continue_as_new_reasons
    ]
    assert reasons == (["SUGGEST_CONTINUE_AS_NEW_REASON_TOO_MANY_HISTORY_EVENTS"] if expected else [])


# --- History size --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("signals", "expected"), [(2, False), (3, True)])
async def test_continue_as_new_suggested_by_size(
    limits_client: Client, workflow_id: str, task_queue: str, signals: int, expected: bool
) -> None:
    # Each signal carries ~4 kB: two stay under the 12 kB setting, three pass it.
    handle = await limits_client.start_workflow(SuggestWorkflow.run, id=workflow_id, task_queue=task_queue)
    for _ in range(signals):
        await handle.signal(SuggestWorkflow.poke, "z" * SMALL_CHUNK)
    async with limits_worker(limits_client, task_queue):
        suggested, length, size = await asyncio.wait_for(handle.result(), 20)
    started = next(event for event in await events(handle) if name(event) == "WORKFLOW_TASK_STARTED")
    attributes = started.workflow_task_started_event_attributes
    assert length == started.event_id == 3 + signals
    assert size == attributes.history_size_bytes
    assert (size >= SIZE_SUGGEST) == expected
    assert suggested == attributes.suggest_continue_as_new == expected
    reasons = [
        SuggestContinueAsNewReason.Name(reason) for reason in attributes.suggest_continue_as_new_reasons
    ]
    assert reasons == (["SUGGEST_CONTINUE_AS_NEW_REASON_HISTORY_SIZE_TOO_LARGE"] if expected else [])


async def test_signals_past_history_size_limit(
    limits_client: Client, workflow_id: str, task_queue: str
) -> None:
    # The size check looks at what is already stored: signals are accepted while the stored history is
    # within the limit, even the one that takes it over; the next one is refused and the run terminated.
    handle = await limits_client.start_workflow(SuggestWorkflow.run, id=workflow_id, task_queue=task_queue)
    accepted = 0
    while True:
        stored = (await handle.describe()).raw_description.workflow_execution_info.history_size_bytes
        assert accepted < 10, "the history size limit was never enforced"
        if stored > SIZE_LIMIT:
            break
        await handle.signal(SuggestWorkflow.poke, "z" * SMALL_CHUNK)
        accepted += 1
    assert accepted == SIZE_LIMIT // SMALL_CHUNK  # 5 signals of ~4 kB pass 20 kB
    error = await rpc_error(handle.signal(SuggestWorkflow.poke, "z" * SMALL_CHUNK))
    assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, SIZE_MESSAGE)
    history = await events(handle)
    assert len(history) == 2 + accepted + 1
    await terminated_by_server(handle, SIZE_MESSAGE)


async def test_history_size_limit_activity_loop(
    limits_client: Client, workflow_id: str, task_queue: str
) -> None:
    async with limits_worker(limits_client, task_queue):
        handle = await limits_client.start_workflow(
            ActivityLoopWorkflow.run, args=["chunk", 20], id=workflow_id, task_queue=task_queue
        )
        await terminated_by_server(handle, SIZE_MESSAGE)
    history = await events(handle)
    # Five ~4 kB results take the stored history past 20 kB; the workflow task scheduled by the fifth
    # completion is never started.
    assert names(history).count("ACTIVITY_TASK_COMPLETED") == SIZE_LIMIT // SMALL_CHUNK
    assert names(history)[-3:] == [
        "ACTIVITY_TASK_COMPLETED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_EXECUTION_TERMINATED",
    ]
