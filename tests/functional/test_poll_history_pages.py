"""A workflow task whose history is longer than one page (frontend.historyMaxPageSize, 256 events): the
poll response carries the first page and a next_page_token, and the worker reads the rest through
GetWorkflowExecutionHistory, ending at the task's WORKFLOW_TASK_STARTED event."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.client import Client
from temporalio.worker import Worker

SIGNALS = 400


@workflow.defn
class CountSignals:
    def __init__(self) -> None:
        self.count = 0

    @workflow.signal
    def tick(self) -> None:
        self.count += 1

    @workflow.run
    async def run(self, expected: int) -> int:
        await workflow.wait_condition(lambda: self.count >= expected)
        return self.count


async def _signal_many(client: Client, workflow_id: str) -> None:
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(SIGNALS):
        await handle.signal(CountSignals.tick)


async def test_long_history_comes_in_pages(client: Client, task_queue: str, workflow_id: str) -> None:
    await client.start_workflow(CountSignals.run, SIGNALS, id=workflow_id, task_queue=task_queue)
    await _signal_many(client, workflow_id)
    poll = await client.workflow_service.poll_workflow_task_queue(
        wsr.PollWorkflowTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=task_queue))
    )
    first_page = [event.event_id for event in poll.history.events]
    assert poll.next_page_token
    assert first_page == list(range(1, len(first_page) + 1))
    assert len(first_page) < poll.started_event_id
    rest: list[int] = []
    token = poll.next_page_token
    while token:
        page = await client.workflow_service.get_workflow_execution_history(
            wsr.GetWorkflowExecutionHistoryRequest(
                namespace=client.namespace, execution=poll.workflow_execution, next_page_token=token
            )
        )
        rest.extend(event.event_id for event in page.history.events)
        token = page.next_page_token
    assert first_page + rest == list(range(1, poll.started_event_id + 1))
    await client.get_workflow_handle(workflow_id).terminate()


async def test_worker_reads_the_pages(client: Client, task_queue: str, workflow_id: str) -> None:
    handle = await client.start_workflow(CountSignals.run, SIGNALS, id=workflow_id, task_queue=task_queue)
    await _signal_many(client, workflow_id)
    # No cache: every task is delivered with the whole (paged) history.
    async with Worker(client, task_queue=task_queue, workflows=[CountSignals], max_cached_workflows=0):
        assert await asyncio.wait_for(handle.result(), 60) == SIGNALS
