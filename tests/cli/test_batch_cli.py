"""`temporal workflow terminate|cancel|signal|delete --query ... --yes` (batch jobs) and `temporal batch
list|describe`, run as the real CLI. The target workflows run with no worker, so only the batch acts on them.

The real dev server runs one batch job per namespace at a time, so every test waits for its jobs to end.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from temporalio.client import Client

from tests.helpers.eventually import assert_eventually

from ._cli import CLI_IDENTITY, TemporalCli, assert_uuid, execution_status

_STARTED = re.compile(
    r'^Start batch against workflows matching query "(?P<query>.*)"\? y/N yes\n'
    r"Started batch for job ID: (?P<job>\S+)\n$"
)


async def start_workflows(client: Client, task_queue: str, count: int) -> tuple[str, list[str]]:
    """`count` running workflows of a type of their own, listed; returns the query naming them, and ids."""
    workflow_type = f"CliBatch{uuid.uuid4().hex[:8]}"
    ids = [f"{task_queue}-{i}" for i in range(count)]
    for workflow_id in ids:
        await client.start_workflow(workflow_type, id=workflow_id, task_queue=task_queue)
    query = f'WorkflowType="{workflow_type}"'

    async def listed() -> None:
        assert (await client.count_workflows(query)).count == count

    await assert_eventually(listed)  # real-server visibility lags; a batch sees only what is listed
    return query, ids


async def run_batch(cli: TemporalCli, *args: str) -> dict[str, Any]:
    """Run a `--query ... --yes` command, check what it prints, wait for the job; returns its description."""
    result = await cli.run(*args, "--yes")
    printed = _STARTED.match(result.stdout)
    assert printed is not None, result.describe()
    assert printed["query"] == args[args.index("--query") + 1].replace('"', '\\"')
    job_id = assert_uuid(printed["job"])

    async def finished() -> dict[str, Any]:
        described: dict[str, Any] = await cli.json("batch", "describe", "--job-id", job_id)
        assert described["state"] == "BATCH_OPERATION_STATE_COMPLETED", described
        return described

    return await assert_eventually(finished)


async def last_event(cli: TemporalCli, workflow_id: str) -> dict[str, Any]:
    events: list[dict[str, Any]] = (await cli.json("workflow", "show", "--workflow-id", workflow_id))[
        "events"
    ]
    return events[-1]


async def test_terminate_by_query(cli: TemporalCli, client: Client, task_queue: str) -> None:
    query, ids = await start_workflows(client, task_queue, 2)
    described = await run_batch(cli, "workflow", "terminate", "--query", query, "--reason", "batch stop")
    assert {k: v for k, v in described.items() if k not in ("jobId", "startTime", "closeTime")} == {
        "operationType": "BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW",
        "state": "BATCH_OPERATION_STATE_COMPLETED",
        "totalOperationCount": "2",
        "completeOperationCount": "2",
        "identity": CLI_IDENTITY,
        "reason": "batch stop",
        "query": query,
    }
    for workflow_id in ids:
        assert await execution_status(cli, workflow_id) == "WORKFLOW_EXECUTION_STATUS_TERMINATED"
        event = await last_event(cli, workflow_id)
        attributes = event["workflowExecutionTerminatedEventAttributes"]
        assert attributes["reason"] == "batch stop"
        # Terminated by the server's batch worker ("<pid>@<host>@"), not as the CLI's identity.
        assert set(attributes) == {"reason", "identity"} and attributes["identity"].endswith("@")

    listed = await cli.json("batch", "list")
    [entry] = [job for job in listed if job["jobId"] == described["jobId"]]
    assert entry["operationType"] == "BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW"
    assert entry["state"] == "BATCH_OPERATION_STATE_COMPLETED"
    text = await cli.run("batch", "describe", "--job-id", described["jobId"])
    assert "CompletedCount  2/2" in text.stdout and "Type            TerminateWorkflow" in text.stdout


async def test_signal_then_cancel_by_query(cli: TemporalCli, client: Client, task_queue: str) -> None:
    query, ids = await start_workflows(client, task_queue, 2)
    signaled = await run_batch(
        cli, "workflow", "signal", "--query", query, "--name", "poke", "--input", '"hi"', "--reason", "r"
    )
    assert signaled["operationType"] == "BATCH_OPERATION_TYPE_SIGNAL_WORKFLOW"
    assert signaled["completeOperationCount"] == "2"
    cancelled = await run_batch(cli, "workflow", "cancel", "--query", query, "--reason", "r")
    assert cancelled["operationType"] == "BATCH_OPERATION_TYPE_CANCEL_WORKFLOW"
    assert cancelled["completeOperationCount"] == "2"
    for workflow_id in ids:
        events = (await cli.json("workflow", "show", "--workflow-id", workflow_id))["events"]
        signal = events[-2]["workflowExecutionSignaledEventAttributes"]
        assert (signal["signalName"], signal["identity"]) == ("poke", CLI_IDENTITY)
        assert uuid.UUID(signal["requestId"]).version == 5
        cancel = events[-1]["workflowExecutionCancelRequestedEventAttributes"]
        assert set(cancel) == {"identity"} and cancel["identity"].endswith("@")


async def test_delete_by_query(cli: TemporalCli, client: Client, task_queue: str) -> None:
    query, ids = await start_workflows(client, task_queue, 2)
    described = await run_batch(cli, "workflow", "delete", "--query", query, "--reason", "r")
    assert described["operationType"] == "BATCH_OPERATION_TYPE_DELETE_WORKFLOW"
    assert described["completeOperationCount"] == "2"

    async def gone() -> None:
        for workflow_id in ids:
            result = await cli.run("workflow", "describe", "--workflow-id", workflow_id, expect_rc=1)
            assert "not found" in result.stderr

    await assert_eventually(gone)


async def test_errors(cli: TemporalCli, client: Client, task_queue: str) -> None:
    query, _ = await start_workflows(client, task_queue, 2)
    # Without --yes the CLI counts the targets and asks; with no answer it gives up before any batch.
    refused = await cli.run("workflow", "terminate", "--query", query, expect_rc=1)
    assert refused.stdout == "Start batch against approximately 2 workflow(s)? y/N "
    assert refused.stderr == "Error: user denied confirmation\n"
    unknown = await cli.run("batch", "describe", "--job-id", "no-such-job", expect_rc=1)
    assert unknown.stderr == "Error: could not find Batch Job 'no-such-job'\n"
    for workflow_id in (f"{task_queue}-0", f"{task_queue}-1"):
        assert await execution_status(cli, workflow_id) == "WORKFLOW_EXECUTION_STATUS_RUNNING"
