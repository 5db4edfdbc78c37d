"""ListWorkflowExecutions and CountWorkflowExecutions over runs in different states, filtered with the
list-filter language; runs unchanged against the real dev server (which lists after a short delay)."""

from __future__ import annotations

import uuid

import pytest
from temporalio import workflow
from temporalio.api.filter.v1 import WorkflowExecutionFilter
from temporalio.api.workflowservice.v1 import (
    ListClosedWorkflowExecutionsRequest,
    ListOpenWorkflowExecutionsRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from tests.helpers.eventually import assert_eventually


@workflow.defn
class ListedWorkflow:
    @workflow.run
    async def run(self, finish: bool) -> str:
        if not finish:
            await workflow.wait_condition(lambda: False)
        return "done"


async def test_list_and_count_by_status_and_type(client: Client, task_queue: str) -> None:
    tag = uuid.uuid4().hex[:8]
    async with Worker(client, task_queue=task_queue, workflows=[ListedWorkflow]):
        done = [f"{tag}-done-{i}" for i in range(3)]
        running = [f"{tag}-running-{i}" for i in range(2)]
        for workflow_id in done:
            await client.execute_workflow(ListedWorkflow.run, True, id=workflow_id, task_queue=task_queue)
        for workflow_id in running:
            await client.start_workflow(ListedWorkflow.run, False, id=workflow_id, task_queue=task_queue)
        mine = f"TaskQueue = '{task_queue}'"

        async def listed() -> None:
            completed = [
                w.id async for w in client.list_workflows(f"{mine} AND ExecutionStatus = 'Completed'")
            ]
            assert sorted(completed) == sorted(done)
            open_ = [w async for w in client.list_workflows(f"{mine} AND ExecutionStatus = 'Running'")]
            assert sorted(w.id for w in open_) == sorted(running)
            assert {w.status for w in open_} == {WorkflowExecutionStatus.RUNNING}
            prefixed = [
                w.id async for w in client.list_workflows(f"{mine} AND WorkflowId STARTS_WITH '{tag}-done'")
            ]
            assert sorted(prefixed) == sorted(done)
            assert (await client.count_workflows(mine)).count == 5
            grouped = await client.count_workflows(f"{mine} GROUP BY ExecutionStatus")
            assert sorted((g.group_values[0], g.count) for g in grouped.groups) == [
                ("Completed", 3),
                ("Running", 2),
            ]

        await assert_eventually(listed, timeout=20)
        for workflow_id in running:
            await client.get_workflow_handle(workflow_id).terminate()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("NoSuchAttribute = 'x'", "invalid search attribute: NoSuchAttribute"),
        ("WorkflowId == 'a'", "malformed SQL query"),
        ("ExecutionStatus = 'running'", "invalid ExecutionStatus value 'running'"),
    ],
)
async def test_bad_queries_are_invalid_arguments(client: Client, query: str, message: str) -> None:
    with pytest.raises(RPCError) as caught:
        [w async for w in client.list_workflows(query)]
    assert caught.value.status == RPCStatusCode.INVALID_ARGUMENT
    assert message in caught.value.message


async def test_list_open_and_closed_executions(client: Client, task_queue: str) -> None:
    tag = uuid.uuid4().hex[:8]
    async with Worker(client, task_queue=task_queue, workflows=[ListedWorkflow]):
        await client.execute_workflow(ListedWorkflow.run, True, id=f"{tag}-closed", task_queue=task_queue)
        await client.start_workflow(ListedWorkflow.run, False, id=f"{tag}-open", task_queue=task_queue)
    service = client.workflow_service

    async def split() -> None:
        opened = await service.list_open_workflow_executions(
            ListOpenWorkflowExecutionsRequest(
                namespace="default", execution_filter=WorkflowExecutionFilter(workflow_id=f"{tag}-open")
            )
        )
        closed = await service.list_closed_workflow_executions(
            ListClosedWorkflowExecutionsRequest(
                namespace="default", execution_filter=WorkflowExecutionFilter(workflow_id=f"{tag}-closed")
            )
        )
        assert [e.execution.workflow_id for e in opened.executions] == [f"{tag}-open"]
        assert [e.execution.workflow_id for e in closed.executions] == [f"{tag}-closed"]

    await assert_eventually(split, timeout=20)
    await client.get_workflow_handle(f"{tag}-open").terminate()
