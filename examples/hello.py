"""Run a workflow with one activity on a Tempyral server at localhost:7233: `python examples/hello.py`."""

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
class HelloWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        greeting = await workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=10))
        await workflow.sleep(1)  # a durable timer: it survives a server restart
        return greeting


async def main() -> None:
    client = await Client.connect("localhost:7233")
    async with Worker(client, task_queue="hello", workflows=[HelloWorkflow], activities=[greet]):
        print(await client.execute_workflow(HelloWorkflow.run, "World", id="hello-1", task_queue="hello"))


if __name__ == "__main__":
    asyncio.run(main())
