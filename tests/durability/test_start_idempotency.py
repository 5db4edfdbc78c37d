"""A start the server acknowledged survives a SIGKILL right after the answer, and a start request repeated
with the same request_id after a restart finds the run it created instead of making a second one.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.api.common.v1 import WorkflowType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import StartWorkflowExecutionRequest, StartWorkflowExecutionResponse
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.worker import Worker

from tests.helpers.history import event_types

from .checks import check_single_run, results_within
from .crash import Crasher, is_outage_error
from .workload import ProbeWorkflow

pytestmark = [pytest.mark.durability, pytest.mark.timeout(90)]


def start_request(workflow_id: str, request_id: str, task_queue: str) -> StartWorkflowExecutionRequest:
    return StartWorkflowExecutionRequest(
        namespace="default",
        workflow_id=workflow_id,
        workflow_type=WorkflowType(name="ProbeWorkflow"),
        task_queue=TaskQueue(name=task_queue),
        request_id=request_id,
        identity="durability-test",
    )


async def test_acknowledged_starts_survive_an_immediate_kill(
    durable_client: Client, crasher: Crasher
) -> None:
    task_queue = f"starts-{uuid.uuid4().hex[:8]}"
    ids = [f"start-{index:02d}-{uuid.uuid4().hex[:6]}" for index in range(20)]
    handles = await asyncio.gather(
        *(durable_client.start_workflow(ProbeWorkflow.run, id=wid, task_queue=task_queue) for wid in ids)
    )
    await crasher.kill()  # nothing runs between the last acknowledgement and the kill
    await crasher.restart()

    for handle in handles:
        description = await handle.describe()
        assert (description.run_id, description.status) == (
            handle.result_run_id,
            WorkflowExecutionStatus.RUNNING,
        )
        assert await event_types(handle) == ["WORKFLOW_EXECUTION_STARTED", "WORKFLOW_TASK_SCHEDULED"]
    # The surviving first workflow task is still dispatchable: a worker started now finishes every run.
    async with Worker(durable_client, task_queue=task_queue, workflows=[ProbeWorkflow]):
        results = await results_within(handles, patience=30)
    assert results == ids
    for handle in handles:
        assert (await event_types(handle)).count("WORKFLOW_EXECUTION_COMPLETED") == 1


async def test_start_retried_with_same_request_id_after_kill_finds_its_run(
    durable_client: Client, crasher: Crasher
) -> None:
    task_queue = f"starts-{uuid.uuid4().hex[:8]}"
    requests = [
        start_request(f"retry-{index:02d}-{uuid.uuid4().hex[:6]}", str(uuid.uuid4()), task_queue)
        for index in range(40)
    ]
    service = durable_client.workflow_service

    async def start(
        index: int, request: StartWorkflowExecutionRequest
    ) -> StartWorkflowExecutionResponse | None:
        """One attempt, no SDK retries: None when the server died before answering."""
        await asyncio.sleep(index * 0.005)  # spread the starts so the kill lands among them
        try:
            return await service.start_workflow_execution(request, retry=False)
        except RPCError as error:
            assert is_outage_error(error), error
            return None

    # Kill once the first answers are back, with the rest of the starts still in flight or not yet sent.
    in_flight = [asyncio.create_task(start(index, request)) for index, request in enumerate(requests)]
    for answered in asyncio.as_completed(in_flight[:10]):
        await answered
    await crasher.kill()
    first_answers = [await task for task in in_flight]
    acknowledged = {
        r.workflow_id: a.run_id for r, a in zip(requests, first_answers, strict=True) if a is not None
    }
    assert acknowledged, "no start was answered before the kill"
    print(f"{len(acknowledged)} of {len(requests)} starts answered before the kill")
    await crasher.restart()

    # The client retries every start, as it would after losing the answers: same request, same run.
    retried = await asyncio.gather(*(service.start_workflow_execution(r, retry=True) for r in requests))
    again = await asyncio.gather(*(service.start_workflow_execution(r, retry=True) for r in requests))
    runs = {request.workflow_id: answer.run_id for request, answer in zip(requests, retried, strict=True)}
    assert {wid: runs[wid] for wid in acknowledged} == acknowledged
    assert [answer.run_id for answer in again] == [answer.run_id for answer in retried]

    async with Worker(durable_client, task_queue=task_queue, workflows=[ProbeWorkflow]):
        handles = [durable_client.get_workflow_handle(request.workflow_id) for request in requests]
        results = await results_within(handles, patience=30)
    assert results == [request.workflow_id for request in requests]

    assert await check_single_run(durable_client, runs) == []
