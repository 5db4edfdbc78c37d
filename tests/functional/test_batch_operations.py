"""Batch operations at the gRPC level (StartBatchOperation, DescribeBatchOperation, ListBatchOperations,
StopBatchOperation), driven through the SDK client's raw service stubs. Most target workflows have no worker
and just stay running until the batch acts on them; the reset test runs a worker so there is a completed
workflow task to reset to.

The real dev server runs one batch job per namespace at a time, so every test waits for its job to end.
"""

from __future__ import annotations

import uuid

import pytest
from google.protobuf.empty_pb2 import Empty
from temporalio import workflow
from temporalio.api.batch.v1 import message_pb2 as batch
from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import (
    BatchOperationState,
    BatchOperationType,
    EventType,
    WorkflowTaskFailedCause,
)
from temporalio.api.history.v1 import message_pb2 as history
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from tests.helpers.eventually import assert_eventually

NAMESPACE = "default"
REQUIRED = (
    "must provide required parameters: BatchType,Reason,Namespace, AND one of "
    "(Query OR Executions OR TargetExecutions)"
)
TERMINATE = batch.BatchOperationTermination(identity="term-identity")


async def start_workflows(client: Client, task_queue: str, count: int) -> tuple[str, list[str]]:
    """`count` running workflows of a type of their own; returns the type and their ids."""
    workflow_type = f"Batch{uuid.uuid4().hex[:8]}"
    ids = [f"{task_queue}-{i}" for i in range(count)]
    for workflow_id in ids:
        await client.start_workflow(workflow_type, id=workflow_id, task_queue=task_queue)
    return workflow_type, ids


async def wait_listed(client: Client, query: str, count: int) -> None:
    """Real-server visibility lags: a query batch only sees what is listed when it starts."""

    async def listed() -> None:
        found = await client.workflow_service.count_workflow_executions(
            wsr.CountWorkflowExecutionsRequest(namespace=NAMESPACE, query=query)
        )
        assert found.count == count

    await assert_eventually(listed)


async def run_job(
    client: Client, request: wsr.StartBatchOperationRequest
) -> wsr.DescribeBatchOperationResponse:
    """Start a job and wait until it is no longer running; returns its final description."""
    request.namespace = NAMESPACE
    await client.workflow_service.start_batch_operation(request)

    async def finished() -> wsr.DescribeBatchOperationResponse:
        described = await describe(client, request.job_id)
        assert described.state != BatchOperationState.BATCH_OPERATION_STATE_RUNNING
        return described

    return await assert_eventually(finished)


async def describe(client: Client, job_id: str) -> wsr.DescribeBatchOperationResponse:
    return await client.workflow_service.describe_batch_operation(
        wsr.DescribeBatchOperationRequest(namespace=NAMESPACE, job_id=job_id)
    )


async def events_of(
    client: Client, workflow_id: str, event_type: EventType.ValueType
) -> list[history.HistoryEvent]:
    fetched = await client.get_workflow_handle(workflow_id).fetch_history()
    return [event for event in fetched.events if event.event_type == event_type]


async def rpc_error(call: object) -> RPCError:
    with pytest.raises(RPCError) as caught:
        await call  # type: ignore[misc]
    return caught.value


def job_id() -> str:
    return f"job-{uuid.uuid4()}"


async def test_start_validation(client: Client) -> None:
    svc = client.workflow_service
    query = 'WorkflowType="nothing"'
    executions = [common.WorkflowExecution(workflow_id="x")]
    cases = [
        (
            dict(visibility_query=query, reason="r", termination_operation=TERMINATE),
            "JobId is not set on request.",
        ),
        (dict(visibility_query=query, job_id="j", termination_operation=TERMINATE), REQUIRED),
        (dict(job_id="j", reason="r", termination_operation=TERMINATE), REQUIRED),
        (dict(visibility_query=query, job_id="j", reason="r"), REQUIRED),
        (
            dict(
                visibility_query=query,
                executions=executions,
                job_id="j",
                reason="r",
                termination_operation=TERMINATE,
            ),
            "visibility query, executions, and target executions are mutually exclusive",
        ),
        (
            dict(
                visibility_query=query, job_id="j", reason="r", signal_operation=batch.BatchOperationSignal()
            ),
            "must provide signal name",
        ),
    ]
    for fields, message in cases:
        request = wsr.StartBatchOperationRequest(namespace=NAMESPACE, **fields)  # type: ignore[arg-type]
        error = await rpc_error(svc.start_batch_operation(request))
        assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, message), fields
    bad_query = wsr.StartBatchOperationRequest(
        namespace=NAMESPACE,
        visibility_query="bad query ((",
        job_id="j",
        reason="r",
        termination_operation=TERMINATE,
    )
    error = await rpc_error(svc.start_batch_operation(bad_query))
    assert error.status == RPCStatusCode.INVALID_ARGUMENT
    assert error.message.startswith("invalid visibility query: syntax error at position ")
    unknown_namespace = wsr.StartBatchOperationRequest(
        namespace="no-such-namespace",
        visibility_query=query,
        job_id="j",
        reason="r",
        termination_operation=TERMINATE,
    )
    error = await rpc_error(svc.start_batch_operation(unknown_namespace))
    assert (error.status, error.message) == (
        RPCStatusCode.NOT_FOUND,
        "Namespace no-such-namespace is not found.",
    )


async def test_describe_and_stop_errors(client: Client) -> None:
    svc = client.workflow_service
    error = await rpc_error(describe(client, "no-such-job"))
    assert (error.status, error.message) == (
        RPCStatusCode.NOT_FOUND,
        "workflow not found for ID: no-such-job",
    )
    error = await rpc_error(describe(client, ""))
    assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, "JobId is not set on request.")
    stop = wsr.StopBatchOperationRequest(namespace=NAMESPACE, job_id="no-such-job")
    error = await rpc_error(svc.stop_batch_operation(stop))
    assert (error.status, error.message) == (RPCStatusCode.INVALID_ARGUMENT, "Reason is not set on request.")
    stop.reason = "stop"
    error = await rpc_error(svc.stop_batch_operation(stop))
    assert (error.status, error.message) == (
        RPCStatusCode.NOT_FOUND,
        "workflow not found for ID: no-such-job",
    )


async def test_terminate_by_query_skips_closed_workflows(client: Client, task_queue: str) -> None:
    workflow_type, ids = await start_workflows(client, task_queue, 3)
    await client.get_workflow_handle(ids[2]).terminate(reason="before the batch")
    query = f'WorkflowType="{workflow_type}"'
    await wait_listed(client, f"{query} AND ExecutionStatus='Running'", 2)
    job = job_id()
    request = wsr.StartBatchOperationRequest(
        job_id=job, visibility_query=query, reason="batch reason", termination_operation=TERMINATE
    )
    described = await run_job(client, request)

    assert described.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW
    assert described.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
    # Only running workflows are targets; the query is reported as given.
    counts = (
        described.total_operation_count,
        described.complete_operation_count,
        described.failure_operation_count,
    )
    assert counts == (2, 2, 0)
    assert (described.job_id, described.identity, described.reason, described.query) == (
        job, "term-identity", "batch reason", query,
    )  # fmt: skip
    assert described.HasField("close_time") and not described.executions

    for workflow_id in ids[:2]:
        [terminated] = await events_of(
            client, workflow_id, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED
        )
        attributes = terminated.workflow_execution_terminated_event_attributes
        assert attributes.reason == "batch reason"
        assert not attributes.HasField("details")
        # The server's batch worker terminates as itself ("<pid>@<host>@"), not as the request's identity.
        assert attributes.identity.endswith("@") and attributes.identity != "term-identity"
    [earlier] = await events_of(client, ids[2], EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED)
    assert earlier.workflow_execution_terminated_event_attributes.reason == "before the batch"

    listed = await client.workflow_service.list_batch_operations(
        wsr.ListBatchOperationsRequest(namespace=NAMESPACE)
    )
    [info] = [info for info in listed.operation_info if info.job_id == job]
    assert info.state == BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
    assert info.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW
    assert info.HasField("start_time") and info.HasField("close_time")
    assert listed.operation_info[0].job_id == job  # newest first

    stop = wsr.StopBatchOperationRequest(namespace=NAMESPACE, job_id=job, reason="stop")
    error = await rpc_error(client.workflow_service.stop_batch_operation(stop))
    assert (error.status, error.message) == (RPCStatusCode.NOT_FOUND, "workflow execution already completed")
    request.namespace = NAMESPACE
    error = await rpc_error(client.workflow_service.start_batch_operation(request))
    assert error.status == RPCStatusCode.ALREADY_EXISTS
    assert error.message.startswith(f"Workflow execution already finished. WorkflowId: {job}, RunId: ")
    assert error.message.endswith(". Workflow Id reuse policy: reject duplicate workflow Id.")


async def test_signal_and_cancel_by_executions(client: Client, task_queue: str) -> None:
    _, ids = await start_workflows(client, task_queue, 2)
    executions = [common.WorkflowExecution(workflow_id=i) for i in [*ids, f"{task_queue}-missing"]]
    payloads = common.Payloads(payloads=[common.Payload(metadata={"encoding": b"json/plain"}, data=b'"hi"')])
    signal = batch.BatchOperationSignal(signal="poke", input=payloads, identity="signal-identity")
    described = await run_job(
        client,
        wsr.StartBatchOperationRequest(
            job_id=job_id(), executions=executions, reason="r", signal_operation=signal
        ),
    )
    # A workflow that does not exist still counts as completed.
    counts = (
        described.total_operation_count,
        described.complete_operation_count,
        described.failure_operation_count,
    )
    assert counts == (3, 3, 0)
    assert described.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_SIGNAL_WORKFLOW
    assert described.identity == "signal-identity" and not described.query
    assert [(e.business_id, e.run_id) for e in described.executions] == [
        (e.workflow_id, "") for e in executions
    ]

    cancel = batch.BatchOperationCancellation(identity="cancel-identity")
    described = await run_job(
        client,
        wsr.StartBatchOperationRequest(
            job_id=job_id(), executions=executions, reason="cancel reason", cancellation_operation=cancel
        ),
    )
    assert (described.total_operation_count, described.complete_operation_count) == (3, 3)
    for workflow_id in ids:
        [signaled] = await events_of(client, workflow_id, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
        attributes = signaled.workflow_execution_signaled_event_attributes
        assert (attributes.signal_name, attributes.identity) == ("poke", "signal-identity")
        assert list(attributes.input.payloads) == list(payloads.payloads)
        assert uuid.UUID(attributes.request_id).version == 5
        [requested] = await events_of(
            client, workflow_id, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED
        )
        cancel_attributes = requested.workflow_execution_cancel_requested_event_attributes
        # No reason reaches the event, and the identity is the server's batch worker's.
        assert cancel_attributes.cause == ""
        assert cancel_attributes.identity.endswith("@") and cancel_attributes.identity != "cancel-identity"


async def test_delete_by_query(client: Client, task_queue: str) -> None:
    workflow_type, ids = await start_workflows(client, task_queue, 2)
    query = f'WorkflowType="{workflow_type}"'
    await wait_listed(client, query, 2)
    deletion = batch.BatchOperationDeletion(identity="delete-identity")
    described = await run_job(
        client,
        wsr.StartBatchOperationRequest(
            job_id=job_id(), visibility_query=query, reason="r", deletion_operation=deletion
        ),
    )
    assert described.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_DELETE_WORKFLOW
    assert (described.total_operation_count, described.complete_operation_count) == (2, 2)

    async def gone() -> None:
        for workflow_id in ids:
            with pytest.raises(RPCError) as caught:
                await client.get_workflow_handle(workflow_id).describe()
            assert caught.value.status == RPCStatusCode.NOT_FOUND

    await assert_eventually(gone)


async def test_list_pages(client: Client, task_queue: str) -> None:
    _, ids = await start_workflows(client, task_queue, 1)
    executions = [common.WorkflowExecution(workflow_id=ids[0])]
    jobs = [job_id(), job_id()]
    for job in jobs:
        await run_job(
            client,
            wsr.StartBatchOperationRequest(
                job_id=job,
                executions=executions,
                reason="r",
                signal_operation=batch.BatchOperationSignal(signal="s"),
            ),
        )
    first = await client.workflow_service.list_batch_operations(
        wsr.ListBatchOperationsRequest(namespace=NAMESPACE, page_size=1)
    )
    assert [info.job_id for info in first.operation_info] == [jobs[1]]
    assert first.next_page_token
    second = await client.workflow_service.list_batch_operations(
        wsr.ListBatchOperationsRequest(
            namespace=NAMESPACE, page_size=1, next_page_token=first.next_page_token
        )
    )
    assert [info.job_id for info in second.operation_info] == [jobs[0]]
    status = (await client.get_workflow_handle(ids[0]).describe()).status
    assert status == WorkflowExecutionStatus.RUNNING


@workflow.defn
class WaitsForever:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


async def test_reset_by_executions_to_the_first_workflow_task(client: Client, task_queue: str) -> None:
    async with Worker(client, task_queue=task_queue, workflows=[WaitsForever]):
        first_runs = {}
        for index in range(2):
            handle = await client.start_workflow(
                WaitsForever.run, id=f"{task_queue}-reset-{index}", task_queue=task_queue
            )
            first_runs[handle.id] = handle.result_run_id

            async def first_task_done(workflow_id: str = handle.id) -> None:
                assert await events_of(client, workflow_id, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)

            await assert_eventually(first_task_done)
        reset = batch.BatchOperationReset(
            identity="reset-identity", options=common.ResetOptions(first_workflow_task=Empty())
        )
        executions = [common.WorkflowExecution(workflow_id=workflow_id) for workflow_id in first_runs]
        described = await run_job(
            client,
            wsr.StartBatchOperationRequest(
                job_id=job_id(), executions=executions, reason="reset them", reset_operation=reset
            ),
        )
        assert (described.total_operation_count, described.complete_operation_count) == (2, 2)
        assert described.operation_type == BatchOperationType.BATCH_OPERATION_TYPE_RESET_WORKFLOW
        for workflow_id, first_run in first_runs.items():
            current = await client.get_workflow_handle(workflow_id).describe()
            assert current.run_id != first_run
            [failed] = await events_of(client, workflow_id, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
            attributes = failed.workflow_task_failed_event_attributes
            assert attributes.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
            assert attributes.base_run_id == first_run
            base = await client.get_workflow_handle(workflow_id, run_id=first_run).describe()
            assert base.status == WorkflowExecutionStatus.TERMINATED
