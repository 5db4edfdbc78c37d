"""`temporal workflow list` and `temporal workflow count` with list filters, against runs the CLI started.

The real server's visibility is eventually consistent, so every read is retried with `assert_eventually`.
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.worker import Worker

from tests.helpers.eventually import assert_eventually

from ._cli import TemporalCli, assert_matches, mask, start_collector, table_rows
from .conftest import WORKER_BUILD_ID


async def populate(cli: TemporalCli, task_queue: str, prefix: str) -> dict[str, str]:
    """Two completed Greeters, a failed Failer and a running Collector; returns workflow id -> run id."""
    runs: dict[str, str] = {}
    for suffix, workflow_type, argument in (
        ("a", "Greeter", '"A"'),
        ("b", "Greeter", '"B"'),
        ("f", "Failer", '"no"'),
    ):
        workflow_id = f"{prefix}-{suffix}"
        executed = await cli.run(
            "workflow", "execute", "--type", workflow_type, "--task-queue", task_queue,
            "--workflow-id", workflow_id, "--input", argument, json_output=True, expect_rc=None,
        )  # fmt: skip
        runs[workflow_id] = executed.json()["runId"]
    runs[f"{prefix}-c"] = await start_collector(cli, f"{prefix}-c", task_queue)
    return runs


async def listed_ids(cli: TemporalCli, query: str, *extra: str) -> list[str]:
    executions = await cli.json("workflow", "list", "--query", query, *extra)
    return [execution["execution"]["workflowId"] for execution in executions]


@pytest.fixture
async def populated(cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str) -> dict[str, str]:
    return await populate(cli, task_queue, workflow_id)


async def test_list_filters(
    cli: TemporalCli, populated: dict[str, str], task_queue: str, workflow_id: str
) -> None:
    in_queue = f"TaskQueue = '{task_queue}'"
    expected: dict[str, set[str]] = {
        in_queue: {f"{workflow_id}-{s}" for s in "abfc"},
        f"{in_queue} AND ExecutionStatus = 'Running'": {f"{workflow_id}-c"},
        f"{in_queue} AND ExecutionStatus = 'Failed'": {f"{workflow_id}-f"},
        f"{in_queue} AND WorkflowType = 'Greeter'": {f"{workflow_id}-a", f"{workflow_id}-b"},
        f"{in_queue} AND ExecutionStatus != 'Running' AND WorkflowType != 'Failer'": {
            f"{workflow_id}-a",
            f"{workflow_id}-b",
        },
        f"WorkflowId = '{workflow_id}-b'": {f"{workflow_id}-b"},
        f"WorkflowId IN ('{workflow_id}-a', '{workflow_id}-c', 'nope')": {
            f"{workflow_id}-a",
            f"{workflow_id}-c",
        },
        f"{in_queue} AND WorkflowType = 'Nope'": set(),
    }

    async def all_filters() -> None:
        found = {query: set(await listed_ids(cli, query)) for query in expected}
        assert found == expected

    await assert_eventually(all_filters)
    # Each run once, and --limit cuts the list.
    assert len(await listed_ids(cli, in_queue)) == 4
    assert len(await listed_ids(cli, in_queue, "--limit", "2")) == 2


async def test_list_text(
    cli: TemporalCli, populated: dict[str, str], task_queue: str, workflow_id: str
) -> None:
    async def table() -> None:
        listed = await cli.run("workflow", "list", "--query", f"TaskQueue = '{task_queue}'")
        rows = {(row[0], row[1], row[2]) for row in table_rows(listed.stdout, "Status")}
        assert rows == {
            ("Completed", f"{workflow_id}-a", "Greeter"),
            ("Completed", f"{workflow_id}-b", "Greeter"),
            ("Failed", f"{workflow_id}-f", "Failer"),
            ("Running", f"{workflow_id}-c", "Collector"),
        }

    await assert_eventually(table)


async def test_list_json_record(
    cli: TemporalCli, populated: dict[str, str], task_queue: str, workflow_id: str
) -> None:
    """One closed run's visibility record, field by field."""
    greeter = f"{workflow_id}-a"

    async def record() -> dict[str, Any]:
        executions = await cli.json("workflow", "list", "--query", f"WorkflowId = '{greeter}'")
        assert len(executions) == 1
        execution: dict[str, Any] = executions[0]
        return execution

    execution = await assert_eventually(record)
    # The BuildIds search attribute has its own test.
    execution.pop("searchAttributes", None)
    assert_matches(
        mask(execution, {populated[greeter]: "<run>"}),
        {
            "execution": {"workflowId": greeter, "runId": "<run>"},
            "type": {"name": "Greeter"},
            "startTime": "<time>",
            "closeTime": "<time>",
            "status": "WORKFLOW_EXECUTION_STATUS_COMPLETED",
            "historyLength": "5",
            "executionTime": "<time>",
            "memo": {},
            "taskQueue": task_queue,
            "stateTransitionCount": "<count>",
            "historySizeBytes": "<size>",
            "executionDuration": "<duration>",
            "rootExecution": {"workflowId": greeter, "runId": "<run>"},
        },
    )


async def test_list_by_build_id(
    cli: TemporalCli, populated: dict[str, str], task_queue: str, workflow_id: str
) -> None:
    """Runs whose tasks the worker completed carry its build id in the `BuildIds` search attribute."""
    expected = {f"{workflow_id}-{s}" for s in "abfc"}

    async def by_build_id() -> None:
        for value in ("unversioned", f"unversioned:{WORKER_BUILD_ID}"):
            query = f"TaskQueue = '{task_queue}' AND BuildIds = '{value}'"
            assert set(await listed_ids(cli, query)) == expected, query

    await assert_eventually(by_build_id)


async def test_count(cli: TemporalCli, populated: dict[str, str], task_queue: str) -> None:
    in_queue = f"TaskQueue = '{task_queue}'"

    async def counted() -> None:
        assert await cli.json("workflow", "count", "--query", in_queue) == {"count": "4"}

    await assert_eventually(counted)
    text = await cli.run("workflow", "count", "--query", f"{in_queue} AND WorkflowType = 'Greeter'")
    assert text.stdout.strip() == "Total: 2"

    grouped = await cli.json("workflow", "count", "--query", f"{in_queue} GROUP BY ExecutionStatus")
    assert grouped["count"] == "4"
    groups = {(tuple(group["groupValues"]), group["count"]) for group in grouped["groups"]}
    assert groups == {(("Completed",), "2"), (("Failed",), "1"), (("Running",), "1")}
    grouped_text = await cli.run("workflow", "count", "--query", f"{in_queue} GROUP BY ExecutionStatus")
    lines = grouped_text.stdout.strip().splitlines()
    assert lines[0] == "Total: 4"
    assert set(lines[1:]) == {
        "Group total: 2, values: Completed",
        "Group total: 1, values: Failed",
        "Group total: 1, values: Running",
    }


@pytest.mark.parametrize(
    ("command", "query", "message"),
    [
        (
            "list",
            "Bogus = 'x'",
            "Error: failed listing workflows: invalid query: invalid search attribute: Bogus",
        ),
        ("count", "Bogus = 'x'", "Error: invalid query: invalid search attribute: Bogus"),
    ],
)
async def test_invalid_queries(cli: TemporalCli, command: str, query: str, message: str) -> None:
    result = await cli.run("workflow", command, "--query", query, expect_rc=1)
    assert result.stderr.strip() == message
