"""`temporal workflow update execute / start / result / describe`, run as the real CLI with a real worker."""

from __future__ import annotations

from temporalio.worker import Worker

from ._cli import TemporalCli, assert_uuid, start_collector, text_fields


async def test_update_execute(cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str) -> None:
    await start_collector(cli, workflow_id, task_queue)
    text = await cli.run(
        "workflow", "update", "execute", "--workflow-id", workflow_id, "--name", "append", "--input", '"a"'
    )
    fields = text_fields(text.stdout)
    assert_uuid(fields.pop("UpdateID"))
    assert fields == {"Name": "append", "Result": "1"}

    executed = await cli.json(
        "workflow", "update", "execute", "--workflow-id", workflow_id, "--name", "append",
        "--input", '"b"', "--update-id", "second",
    )  # fmt: skip
    assert executed == {"name": "append", "updateId": "second", "result": 2}
    queried = await cli.json("workflow", "query", "--workflow-id", workflow_id, "--type", "items")
    assert queried == {"queryResult": [["a", "b"]]}
    await cli.run("workflow", "terminate", "--workflow-id", workflow_id)


async def test_update_start_result_and_describe(
    cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str
) -> None:
    await start_collector(cli, workflow_id, task_queue)
    started = await cli.json(
        "workflow", "update", "start", "--workflow-id", workflow_id, "--name", "append_when_finished",
        "--input", '"z"', "--update-id", "pending", "--wait-for-stage", "accepted",
    )  # fmt: skip
    assert started == {"name": "append_when_finished", "updateId": "pending"}

    # Accepted, not completed: the handler waits for `finish`.
    accepted = await cli.json(
        "workflow", "update", "describe", "--workflow-id", workflow_id, "--update-id", "pending"
    )
    assert accepted == {"updateId": "pending", "stage": "Accepted"}
    text = await cli.run(
        "workflow", "update", "describe", "--workflow-id", workflow_id, "--update-id", "pending"
    )
    assert text_fields(text.stdout) == {"UpdateID": "pending", "Stage": "Accepted"}

    await cli.run("workflow", "signal", "--workflow-id", workflow_id, "--name", "finish")
    result = await cli.json(
        "workflow", "update", "result", "--workflow-id", workflow_id, "--update-id", "pending"
    )
    assert result == {"updateId": "pending", "result": 1}
    text = await cli.run(
        "workflow", "update", "result", "--workflow-id", workflow_id, "--update-id", "pending"
    )
    assert text_fields(text.stdout) == {"UpdateID": "pending", "Result": "1"}
    completed = await cli.json(
        "workflow", "update", "describe", "--workflow-id", workflow_id, "--update-id", "pending"
    )
    assert completed == {"updateId": "pending", "result": 1, "stage": "Completed"}

    closed = await cli.json("workflow", "result", "--workflow-id", workflow_id)
    assert (closed["status"], closed["result"]) == ("COMPLETED", ["z"])


async def test_update_errors(cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str) -> None:
    await start_collector(cli, workflow_id, task_queue)
    rejected = await cli.run(
        "workflow", "update", "execute", "--workflow-id", workflow_id, "--name", "append", "--input", '""',
        expect_rc=1,
    )  # fmt: skip
    assert rejected.stderr.strip() == (
        "Error: unable to update workflow: empty item (type: ValueError, retryable: true)"
    )
    unknown = await cli.run(
        "workflow", "update", "execute", "--workflow-id", workflow_id, "--name", "nope", expect_rc=1
    )
    assert unknown.stderr.startswith(
        "Error: unable to update workflow: Update handler for 'nope' expected but not found"
    ), unknown.stderr
    missing = await cli.run(
        "workflow", "update", "describe", "--workflow-id", workflow_id, "--update-id", "nope", expect_rc=1
    )
    assert missing.stderr.strip() == 'Error: failed to describe update: update "nope" not found'

    # A rejected update leaves no trace in history.
    history = await cli.json("workflow", "show", "--workflow-id", workflow_id)
    assert not any("UPDATE" in event["eventType"] for event in history["events"])
    await cli.run("workflow", "terminate", "--workflow-id", workflow_id)
