"""Visibility rows follow the run in the same transactions: written at start, rewritten on close and on
search-attribute upserts, gone with the run."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from tempyral.testing.servers import ServerProcess

STAGE = SearchAttributeKey.for_keyword("Stage")


@workflow.defn
class TaggingWorkflow:
    @workflow.run
    async def run(self) -> None:
        workflow.upsert_search_attributes([STAGE.value_set("two")])
        await workflow.sleep(timedelta(milliseconds=10))


def rows(db: Path, workflow_id: str) -> list[tuple[int, float | None, int, str]]:
    with sqlite3.connect(db) as conn:
        query = (
            "SELECT status, close_time, history_length, search_attributes FROM visibility WHERE workflow_id=?"
        )
        return conn.execute(query, (workflow_id,)).fetchall()


async def test_visibility_row_follows_the_run(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    server = ServerProcess(
        kind="tempyral", db_filename=str(db), extra_args=["--search-attribute", "Stage=Keyword"]
    ).start()
    try:
        client = await Client.connect(server.address)
        handle = await client.start_workflow(
            TaggingWorkflow.run,
            id="tagged",
            task_queue="vis",
            search_attributes=TypedSearchAttributes([SearchAttributePair(STAGE, "one")]),
        )
        ((status, close_time, _, attributes),) = rows(db, "tagged")
        assert (status, close_time, attributes) == (1, None, '{"Stage": "one"}')
        async with Worker(client, task_queue="vis", workflows=[TaggingWorkflow]):
            await handle.result()
        ((status, close_time, history_length, attributes),) = rows(db, "tagged")
        assert status == 2 and close_time is not None
        assert history_length == len([e async for e in handle.fetch_history_events()])
        decoded = json.loads(attributes)
        assert decoded["Stage"] == "two"
        # The worker's build id is recorded as the real server does it.
        assert decoded["BuildIds"][0] == "unversioned"
        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace="default", workflow_execution=WorkflowExecution(workflow_id="tagged")
            )
        )
        assert rows(db, "tagged") == []
    finally:
        server.stop()
