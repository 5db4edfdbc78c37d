"""`temporal workflow start/execute/result/signal/query/cancel/terminate/delete` and their errors, run as the
real CLI against the test server with a real worker."""

from __future__ import annotations

from typing import Any

from temporalio.worker import Worker

from tests.helpers.eventually import assert_eventually

from ._cli import (
    CLI_IDENTITY,
    TemporalCli,
    assert_uuid,
    execution_status,
    progress_event_types,
    start_collector,
    table_rows,
    text_fields,
)

GREETER_EVENTS = [
    "WorkflowExecutionStarted",
    "WorkflowTaskScheduled",
    "WorkflowTaskStarted",
    "WorkflowTaskCompleted",
    "WorkflowExecutionCompleted",
]


async def test_execute_prints_progress_and_result(
    cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str
) -> None:
    result = await cli.run(
        "workflow", "execute", "--type", "Greeter", "--task-queue", task_queue,
        "--workflow-id", workflow_id, "--input", '"Ann"',
    )  # fmt: skip
    running, _, rest = result.stdout.partition("Progress:")
    progress, _, results = rest.partition("Results:")
    header = text_fields(running)
    assert {k: v for k, v in header.items() if k != "RunId"} == {
        "WorkflowId": workflow_id,
        "Type": "Greeter",
        "Namespace": "default",
        "TaskQueue": task_queue,
    }
    assert_uuid(header["RunId"])
    assert progress_event_types(progress) == GREETER_EVENTS
    assert [row[0] for row in table_rows(progress, "ID")] == ["1", "2", "3", "4", "5"]
    summary = text_fields(results)
    assert summary["Status"] == "COMPLETED"
    assert summary["Result"] == '"Hello, Ann!"'
    assert summary["ResultEncoding"] == "json/plain"


async def test_execute_json(cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str) -> None:
    executed = await cli.json(
        "workflow", "execute", "--type", "Greeter", "--task-queue", task_queue,
        "--workflow-id", workflow_id, "--input", '"Bo"',
    )  # fmt: skip
    run_id = assert_uuid(executed.pop("runId"))
    assert isinstance(executed.pop("durationMillis"), int)
    close_event = executed.pop("closeEvent")
    assert executed == {
        "workflowId": workflow_id,
        "type": "Greeter",
        "namespace": "default",
        "taskQueue": task_queue,
        "status": "COMPLETED",
        "result": "Hello, Bo!",
    }
    assert close_event["eventId"] == "5"
    assert close_event["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    assert close_event["workflowExecutionCompletedEventAttributes"] == {
        "result": ["Hello, Bo!"],
        "workflowTaskCompletedEventId": "4",
    }
    described = await cli.json("workflow", "describe", "--workflow-id", workflow_id)
    assert described["workflowExecutionInfo"]["execution"]["runId"] == run_id


async def test_execute_failing_workflow_exits_1(
    cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str
) -> None:
    result = await cli.run(
        "workflow", "execute", "--type", "Failer", "--task-queue", task_queue,
        "--workflow-id", workflow_id, "--input", '"boom"',
        json_output=True, expect_rc=1,
    )  # fmt: skip
    assert result.stderr.strip() == "Error: workflow failed"
    executed = result.json()
    assert executed["status"] == "FAILED"
    attributes = executed["closeEvent"]["workflowExecutionFailedEventAttributes"]
    assert attributes["failure"]["message"] == "boom"
    assert attributes["failure"]["applicationFailureInfo"] == {"nonRetryable": True}
    assert attributes["retryState"] == "RETRY_STATE_RETRY_POLICY_NOT_SET"


async def test_start_then_result(cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str) -> None:
    start = await cli.run(
        "workflow", "start", "--type", "Greeter", "--task-queue", task_queue,
        "--workflow-id", workflow_id, "--input", '"Cy"',
    )  # fmt: skip
    assert start.stdout.startswith("Running execution:\n")
    started = text_fields(start.stdout)
    run_id = assert_uuid(started.pop("RunId"))
    assert started == {
        "WorkflowId": workflow_id,
        "Type": "Greeter",
        "Namespace": "default",
        "TaskQueue": task_queue,
    }

    result = await cli.json("workflow", "result", "--workflow-id", workflow_id)
    assert result["runId"] == run_id
    assert result["status"] == "COMPLETED"
    assert result["result"] == "Hello, Cy!"
    assert result["closeEvent"]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"

    text = await cli.run("workflow", "result", "--workflow-id", workflow_id, "--run-id", run_id)
    assert text_fields(text.stdout) == {
        "Status": "COMPLETED",
        "Result": '"Hello, Cy!"',
        "ResultEncoding": "json/plain",
    }


async def test_start_json_reports_the_run(
    cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str
) -> None:
    started = await cli.json(
        "workflow", "start", "--type", "Collector", "--task-queue", task_queue, "--workflow-id", workflow_id
    )
    run_id = assert_uuid(started.pop("runId"))
    assert started == {
        "workflowId": workflow_id,
        "type": "Collector",
        "namespace": "default",
        "taskQueue": task_queue,
    }
    # Starting a running id again hands back the running run (the CLI does not ask the server to fail).
    again = await cli.json(
        "workflow", "start", "--type", "Collector", "--task-queue", task_queue, "--workflow-id", workflow_id
    )
    assert again["runId"] == run_id
    await cli.run("workflow", "terminate", "--workflow-id", workflow_id)


async def test_signal_and_query(cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str) -> None:
    await start_collector(cli, workflow_id, task_queue)
    signalled = await cli.run(
        "workflow", "signal", "--workflow-id", workflow_id, "--name", "add", "--input", '"a"'
    )
    assert signalled.stdout.strip() == "Signal workflow succeeded"
    await cli.run("workflow", "signal", "--workflow-id", workflow_id, "--name", "add", "--input", '"b"')

    async def both_items() -> None:
        queried = await cli.json("workflow", "query", "--workflow-id", workflow_id, "--type", "items")
        assert queried == {"queryResult": [["a", "b"]]}

    await assert_eventually(both_items)
    text = await cli.run("workflow", "query", "--workflow-id", workflow_id, "--type", "items")
    assert text.stdout.startswith("Query result:\n")
    assert text_fields(text.stdout) == {"QueryResult": '["a","b"]'}

    await cli.run("workflow", "signal", "--workflow-id", workflow_id, "--name", "finish")
    result = await cli.json("workflow", "result", "--workflow-id", workflow_id)
    assert (result["status"], result["result"]) == ("COMPLETED", ["a", "b"])


async def test_query_errors(cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str) -> None:
    await start_collector(cli, workflow_id, task_queue)
    unknown = await cli.run("workflow", "query", "--workflow-id", workflow_id, "--type", "nope", expect_rc=1)
    assert unknown.stderr.startswith(
        "Error: querying workflow failed: Query handler for 'nope' expected but not found, known queries: ["
    ), unknown.stderr
    assert "items" in unknown.stderr
    missing = await cli.run(
        "workflow", "query", "--workflow-id", f"{workflow_id}-x", "--type", "items", expect_rc=1
    )
    assert (
        missing.stderr.strip()
        == f"Error: querying workflow failed: workflow not found for ID: {workflow_id}-x"
    )
    await cli.run("workflow", "terminate", "--workflow-id", workflow_id)


async def test_cancel(cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str) -> None:
    run_id = await start_collector(cli, workflow_id, task_queue)
    cancelled = await cli.run("workflow", "cancel", "--workflow-id", workflow_id)
    assert cancelled.stdout.strip() == "Canceled workflow"

    result = await cli.run("workflow", "result", "--workflow-id", workflow_id, json_output=True, expect_rc=1)
    assert result.stderr.strip() == "Error: workflow failed"
    closed = result.json()
    assert (closed["runId"], closed["status"]) == (run_id, "CANCELED")
    assert closed["closeEvent"]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED"
    history = await cli.json("workflow", "show", "--workflow-id", workflow_id)
    types = [event["eventType"].removeprefix("EVENT_TYPE_") for event in history["events"]]
    assert types[:4] == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
    ]
    assert types[4:] == [
        "WORKFLOW_EXECUTION_CANCEL_REQUESTED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "WORKFLOW_EXECUTION_CANCELED",
    ]
    requested = history["events"][4]["workflowExecutionCancelRequestedEventAttributes"]
    assert requested == {"identity": CLI_IDENTITY}
    assert await execution_status(cli, workflow_id) == "WORKFLOW_EXECUTION_STATUS_CANCELED"


async def test_terminate(cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str) -> None:
    await start_collector(cli, workflow_id, task_queue)
    terminated = await cli.run("workflow", "terminate", "--workflow-id", workflow_id, "--reason", "enough")
    assert terminated.stdout.strip() == "Workflow terminated"
    history = await cli.json("workflow", "show", "--workflow-id", workflow_id)
    last = history["events"][-1]
    assert last["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED"
    assert last["workflowExecutionTerminatedEventAttributes"] == {
        "reason": "enough",
        "identity": CLI_IDENTITY,
    }
    assert await execution_status(cli, workflow_id) == "WORKFLOW_EXECUTION_STATUS_TERMINATED"

    again = await cli.run("workflow", "terminate", "--workflow-id", workflow_id, expect_rc=1)
    assert again.stderr.strip() == "Error: failed to terminate workflow: workflow execution already completed"


async def test_delete(cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str) -> None:
    # A running workflow: the real server deletes a just-closed one only after ~30 s.
    await start_collector(cli, workflow_id, task_queue)
    deleted = await cli.run("workflow", "delete", "--workflow-id", workflow_id, "--yes")
    assert deleted.stdout.strip().endswith("Delete workflow succeeded")

    # The real server deletes asynchronously.
    async def gone() -> None:
        described = await cli.run("workflow", "describe", "--workflow-id", workflow_id, expect_rc=None)
        assert described.returncode == 1, described.describe()
        assert (
            described.stderr.strip()
            == f"Error: failed describing workflow: workflow not found for ID: {workflow_id}"
        )

    await assert_eventually(gone)

    async def unlisted() -> None:
        counted = await cli.run("workflow", "count", "--query", f"WorkflowId = '{workflow_id}'")
        assert counted.stdout.strip() == "Total: 0"

    await assert_eventually(unlisted)


async def test_unknown_workflow_errors(cli: TemporalCli, workflow_id: str) -> None:
    expected: dict[tuple[str, ...], str] = {
        ("describe",): "failed describing workflow",
        ("show",): "displaying history failed",
        ("signal", "--name", "add"): "failed signalling workflow",
        ("cancel",): "failed to cancel workflow",
        ("terminate",): "failed to terminate workflow",
    }
    outcomes: dict[tuple[str, ...], Any] = {}
    for args, prefix in expected.items():
        result = await cli.run("workflow", args[0], "--workflow-id", workflow_id, *args[1:], expect_rc=1)
        outcomes[args] = result.stderr.strip()
        expected[args] = f"Error: {prefix}: workflow not found for ID: {workflow_id}"
    assert outcomes == expected
