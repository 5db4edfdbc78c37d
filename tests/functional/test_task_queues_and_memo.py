"""DescribeTaskQueue lists the workers polling a queue; workflow.upsert_memo changes the memo in place."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.worker import Worker

from tests.helpers.eventually import assert_eventually


@workflow.defn
class MemoWorkflow:
    @workflow.run
    async def run(self) -> str:
        workflow.upsert_memo({"stage": "two", "drop": None})
        return "done"


async def test_describe_task_queue_lists_pollers(client: Client, task_queue: str) -> None:
    async with Worker(client, task_queue=task_queue, workflows=[MemoWorkflow], identity="poller-under-test"):

        async def listed() -> None:
            for queue_type in (
                TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            ):
                if queue_type == TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY:
                    continue  # this worker has no activities, so it never polls for them
                response = await client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace="default", task_queue=TaskQueue(name=task_queue), task_queue_type=queue_type
                    )
                )
                assert "poller-under-test" in [poller.identity for poller in response.pollers]

        await assert_eventually(listed)


async def test_upsert_memo(client: Client, task_queue: str, workflow_id: str) -> None:
    async with Worker(client, task_queue=task_queue, workflows=[MemoWorkflow]):
        handle = await client.start_workflow(
            MemoWorkflow.run, id=workflow_id, task_queue=task_queue, memo={"stage": "one", "drop": "me"}
        )
        assert await handle.result() == "done"
    description = await handle.describe()
    memo: dict[str, Any] = await description.memo()
    assert memo == {"stage": "two"}
    events = [event async for event in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED in [event.event_type for event in events]
