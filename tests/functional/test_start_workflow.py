"""StartWorkflowExecution: results and failures, request-id idempotency, ID reuse and conflict policies,
execution/run timeouts, memo and search attributes, and start delay."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import WorkflowIdConflictPolicy
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import (
    ApplicationError,
    TimeoutError,
    TimeoutType,
    WorkflowAlreadyStartedError,
)

from tempyral.testing.servers import ServerProcess
from tests.helpers.history import event_types

from ._api_support import new_worker, raw_stub, start_request
from ._api_workflows import FailWorkflow, GreetWorkflow, WaitWorkflow

# Predefined on the dev server (the SDK writes it for `workflow.patched`); no custom attribute is.
CHANGE_VERSION = SearchAttributeKey.for_keyword_list("TemporalChangeVersion")


async def _termination_text(handle: WorkflowHandle[Any, Any]) -> str:
    """Reason and details of the run's WORKFLOW_EXECUTION_TERMINATED event, as one string."""
    last = (await handle.fetch_history()).events[-1]
    assert last.HasField("workflow_execution_terminated_event_attributes")
    attributes = last.workflow_execution_terminated_event_attributes
    return " ".join([attributes.reason, *(payload.data.decode() for payload in attributes.details.payloads)])


@pytest.fixture
async def stub(server: ServerProcess) -> AsyncIterator[WorkflowServiceStub]:
    async with raw_stub(server.address) as service:
        yield service


async def test_workflow_result_and_history(client: Client, task_queue: str, workflow_id: str) -> None:
    async with new_worker(client, task_queue):
        handle = await client.start_workflow(GreetWorkflow.run, "Ada", id=workflow_id, task_queue=task_queue)
        assert await handle.result() == "Hello, Ada!"
    assert await event_types(handle) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
    assert description.close_time is not None
    assert description.history_length == 5


async def test_workflow_failure_reaches_client(client: Client, task_queue: str, workflow_id: str) -> None:
    async with new_worker(client, task_queue):
        handle = await client.start_workflow(
            FailWorkflow.run, "it broke", id=workflow_id, task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.message == "it broke"
    assert cause.type == "TestFailure"
    assert cause.non_retryable
    assert list(cause.details) == [{"reason": "on purpose"}]
    assert (await event_types(handle))[-1] == "WORKFLOW_EXECUTION_FAILED"
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED


async def test_same_request_id_returns_same_run(
    stub: WorkflowServiceStub, task_queue: str, workflow_id: str
) -> None:
    request = start_request(workflow_id, task_queue)
    first = await stub.StartWorkflowExecution(request, timeout=10)
    # A retried start (same request_id) is not a second start: same run, no ALREADY_EXISTS.
    again = await stub.StartWorkflowExecution(request, timeout=10)
    assert first.started
    assert again.run_id == first.run_id
    await stub.TerminateWorkflowExecution(
        wsr.TerminateWorkflowExecutionRequest(
            namespace="default", workflow_execution=common_pb.WorkflowExecution(workflow_id=workflow_id)
        ),
        timeout=10,
    )
    # Even once that run has closed, the same request id still names it instead of starting another.
    after_close = await stub.StartWorkflowExecution(request, timeout=10)
    assert after_close.run_id == first.run_id


async def _closed_run(client: Client, task_queue: str, workflow_id: str, outcome: str) -> str:
    """Leave `workflow_id` with one closed run that ended as `outcome`; return its run id."""
    handle: WorkflowHandle[Any, Any]
    if outcome == "completed":
        handle = await client.start_workflow(GreetWorkflow.run, "x", id=workflow_id, task_queue=task_queue)
        await handle.result()
    elif outcome == "failed":
        handle = await client.start_workflow(FailWorkflow.run, "x", id=workflow_id, task_queue=task_queue)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    else:
        handle = await client.start_workflow(WaitWorkflow.run, id=workflow_id, task_queue=task_queue)
        await handle.terminate(reason="make room")
    assert handle.result_run_id is not None
    return handle.result_run_id


@pytest.mark.parametrize(
    ("policy", "outcome", "allowed"),
    [
        (WorkflowIDReusePolicy.ALLOW_DUPLICATE, "completed", True),
        (WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY, "completed", False),
        (WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY, "failed", True),
        (WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY, "terminated", True),
        (WorkflowIDReusePolicy.REJECT_DUPLICATE, "failed", False),
    ],
)
async def test_id_reuse_policy_after_close(
    client: Client,
    task_queue: str,
    workflow_id: str,
    policy: WorkflowIDReusePolicy,
    outcome: str,
    allowed: bool,
) -> None:
    async with new_worker(client, task_queue):
        old_run = await _closed_run(client, task_queue, workflow_id, outcome)
        if not allowed:
            with pytest.raises(WorkflowAlreadyStartedError) as caught:
                await client.start_workflow(
                    GreetWorkflow.run, "y", id=workflow_id, task_queue=task_queue, id_reuse_policy=policy
                )
            assert caught.value.workflow_id == workflow_id
            return
        handle = await client.start_workflow(
            GreetWorkflow.run, "y", id=workflow_id, task_queue=task_queue, id_reuse_policy=policy
        )
        assert handle.result_run_id not in (None, old_run)
        assert await handle.result() == "Hello, y!"
    # The old run is still there, closed, under its own run id.
    assert (await client.get_workflow_handle(workflow_id, run_id=old_run).describe()).status in (
        WorkflowExecutionStatus.COMPLETED,
        WorkflowExecutionStatus.FAILED,
        WorkflowExecutionStatus.TERMINATED,
    )


async def test_reuse_policy_terminate_if_running(client: Client, task_queue: str, workflow_id: str) -> None:
    first = await client.start_workflow(WaitWorkflow.run, id=workflow_id, task_queue=task_queue)
    second = await client.start_workflow(
        WaitWorkflow.run,
        id=workflow_id,
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.TERMINATE_IF_RUNNING,
    )
    assert second.result_run_id != first.result_run_id
    # A handle from start_workflow follows the latest run; pin the first run to look at it.
    first_run = client.get_workflow_handle(workflow_id, run_id=first.result_run_id)
    assert (await first_run.describe()).status == WorkflowExecutionStatus.TERMINATED
    assert second.result_run_id is not None
    assert second.result_run_id in await _termination_text(first_run)
    assert (await second.describe()).status == WorkflowExecutionStatus.RUNNING
    await second.terminate()


async def test_conflict_policy_fail(client: Client, task_queue: str, workflow_id: str) -> None:
    first = await client.start_workflow(WaitWorkflow.run, id=workflow_id, task_queue=task_queue)
    with pytest.raises(WorkflowAlreadyStartedError) as caught:
        await client.start_workflow(
            WaitWorkflow.run,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    # The SDK fills run_id from the server's WorkflowExecutionAlreadyStartedFailure detail.
    assert caught.value.run_id == first.result_run_id
    await first.terminate()


async def test_conflict_policy_use_existing(
    client: Client, stub: WorkflowServiceStub, task_queue: str, workflow_id: str
) -> None:
    first = await client.start_workflow(WaitWorkflow.run, id=workflow_id, task_queue=task_queue)
    second = await client.start_workflow(
        WaitWorkflow.run,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    assert second.result_run_id == first.result_run_id
    raw = await stub.StartWorkflowExecution(
        start_request(
            workflow_id,
            task_queue,
            workflow_id_conflict_policy=WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
        ),
        timeout=10,
    )
    assert raw.run_id == first.result_run_id
    assert not raw.started  # the response says no new run was started
    assert (await first.describe()).status == WorkflowExecutionStatus.RUNNING
    await first.terminate()


async def test_conflict_policy_terminate_existing(client: Client, task_queue: str, workflow_id: str) -> None:
    first = await client.start_workflow(WaitWorkflow.run, id=workflow_id, task_queue=task_queue)
    second = await client.start_workflow(
        WaitWorkflow.run,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
    )
    assert second.result_run_id != first.result_run_id
    first_run = client.get_workflow_handle(workflow_id, run_id=first.result_run_id)
    assert (await first_run.describe()).status == WorkflowExecutionStatus.TERMINATED
    assert second.result_run_id is not None
    assert second.result_run_id in await _termination_text(first_run)
    assert (await second.describe()).status == WorkflowExecutionStatus.RUNNING
    await second.terminate()


@pytest.mark.parametrize("which", ["execution_timeout", "run_timeout"])
async def test_workflow_timeout(client: Client, task_queue: str, workflow_id: str, which: str) -> None:
    timeout: dict[str, Any] = {which: timedelta(seconds=1)}
    async with new_worker(client, task_queue):
        handle = await client.start_workflow(
            WaitWorkflow.run,
            id=workflow_id,
            task_queue=task_queue,
            **timeout,
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    cause = caught.value.cause
    assert isinstance(cause, TimeoutError)
    assert cause.type == TimeoutType.START_TO_CLOSE
    history = await handle.fetch_history()
    last = history.events[-1]
    assert last.HasField("workflow_execution_timed_out_event_attributes")
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.TIMED_OUT
    started = history.events[0].workflow_execution_started_event_attributes
    timeout_field = "workflow_execution_timeout" if which == "execution_timeout" else "workflow_run_timeout"
    assert getattr(started, timeout_field).ToTimedelta() == timedelta(seconds=1)
    # The timeout fires one second after start, not much later.
    elapsed = last.event_time.ToDatetime() - history.events[0].event_time.ToDatetime()
    assert timedelta(seconds=1) <= elapsed < timedelta(seconds=5)


async def test_memo_and_search_attributes_stored(client: Client, task_queue: str, workflow_id: str) -> None:
    handle = await client.start_workflow(
        WaitWorkflow.run,
        id=workflow_id,
        task_queue=task_queue,
        memo={"owner": "team-a", "limits": {"max": 3}},
        search_attributes=TypedSearchAttributes([SearchAttributePair(CHANGE_VERSION, ["v1", "v2"])]),
    )
    description = await handle.describe()
    assert await description.memo() == {"owner": "team-a", "limits": {"max": 3}}
    assert description.typed_search_attributes.get(CHANGE_VERSION) == ["v1", "v2"]
    started = (await handle.fetch_history()).events[0].workflow_execution_started_event_attributes
    assert set(started.memo.fields) == {"owner", "limits"}
    assert set(started.search_attributes.indexed_fields) == {"TemporalChangeVersion"}
    await handle.terminate()


async def test_start_delay_backs_off_first_workflow_task(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    delay = timedelta(seconds=2)
    async with new_worker(client, task_queue):
        handle = await client.start_workflow(
            GreetWorkflow.run, "later", id=workflow_id, task_queue=task_queue, start_delay=delay
        )
        description = await handle.describe()
        assert description.execution_time is not None
        assert description.execution_time - description.start_time == delay
        # Nothing is scheduled until the delay is over.
        assert await event_types(handle) == ["WORKFLOW_EXECUTION_STARTED"]
        assert await handle.result() == "Hello, later!"
    events = (await handle.fetch_history()).events
    assert (
        events[0].workflow_execution_started_event_attributes.first_workflow_task_backoff.ToTimedelta()
        == delay
    )
    assert events[1].HasField("workflow_task_scheduled_event_attributes")
    waited = events[1].event_time.ToDatetime() - events[0].event_time.ToDatetime()
    assert waited >= delay


async def test_start_with_unique_ids_gets_fresh_runs(client: Client, task_queue: str) -> None:
    """Run ids are unique per start and the workflow id is kept as given."""
    ids = [f"wf-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    handles = [await client.start_workflow(WaitWorkflow.run, id=i, task_queue=task_queue) for i in ids]
    assert len({handle.result_run_id for handle in handles}) == 3
    for handle, wanted in zip(handles, ids, strict=True):
        description = await handle.describe()
        assert description.id == wanted
        assert description.workflow_type == "WaitWorkflow"
        await handle.terminate()
