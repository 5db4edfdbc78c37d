"""A query nobody answers because the task queue's workers are gone: the real server fails it with
FAILED_PRECONDITION "no poller seen for task queue recently, worker may be down" (a second before the
caller's deadline) once no worker has polled within matching.queryPollerUnavailableWindow (20 s by
default; this test's server uses 1 s). With a worker seen recently it just waits out the deadline."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from tempyral.testing.servers import ServerProcess
from tests.conftest import SERVER_KIND


@workflow.defn
class Idle:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.query
    def alive(self) -> bool:
        return True


@pytest.fixture(scope="module")
def short_window_server() -> Iterator[ServerProcess]:
    process = ServerProcess(
        kind=SERVER_KIND,
        extra_args=["--dynamic-config-value", 'matching.queryPollerUnavailableWindow="1s"'],
    ).start()
    try:
        yield process
    finally:
        process.stop()


async def test_query_fails_fast_once_workers_are_gone(short_window_server: ServerProcess) -> None:
    client = await Client.connect(short_window_server.address)
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    # No cache: the query must go to a worker as a query-only task.
    async with Worker(client, task_queue=task_queue, workflows=[Idle], max_cached_workflows=0):
        handle = await client.start_workflow(Idle.run, id=f"wf-{uuid.uuid4().hex[:8]}", task_queue=task_queue)
        assert await handle.query(Idle.alive) is True
    await asyncio.sleep(3)  # longer than the window: the workers are gone
    with pytest.raises(RPCError) as raised:
        await handle.query(Idle.alive, rpc_timeout=timedelta(seconds=4))
    assert raised.value.status == RPCStatusCode.FAILED_PRECONDITION
    assert raised.value.message == "no poller seen for task queue recently, worker may be down"
    await handle.terminate()
