"""`temporal workflow reset` by event id and by type (FirstWorkflowTask, LastWorkflowTask): the new run, the
terminated base run, and signals after the reset point reapplied (or not, with --reapply-exclude Signal)."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.worker import Worker

from tests.helpers.eventually import assert_eventually

from ._cli import CLI_IDENTITY, TemporalCli, assert_matches, assert_uuid, json_payload, mask, start_collector

REASON = "cli reset test"


async def collector_with_one_signal(cli: TemporalCli, workflow_id: str, task_queue: str) -> str:
    """A running Collector whose history is: started, task 2-4, signal `add("a")` at 5, task 6-8."""
    run_id = await start_collector(cli, workflow_id, task_queue)
    await cli.run("workflow", "signal", "--workflow-id", workflow_id, "--name", "add", "--input", '"a"')

    async def signal_handled() -> None:
        assert await event_types(cli, workflow_id, run_id) == [
            "WORKFLOW_EXECUTION_STARTED",
            *WORKFLOW_TASK,
            "WORKFLOW_EXECUTION_SIGNALED",
            *WORKFLOW_TASK,
        ]

    await assert_eventually(signal_handled)
    return run_id


WORKFLOW_TASK = ["WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED"]


async def history(cli: TemporalCli, workflow_id: str, run_id: str) -> list[dict[str, Any]]:
    shown = await cli.json("workflow", "show", "--workflow-id", workflow_id, "--run-id", run_id)
    events: list[dict[str, Any]] = shown["events"]
    return events


async def event_types(cli: TemporalCli, workflow_id: str, run_id: str) -> list[str]:
    return [
        event["eventType"].removeprefix("EVENT_TYPE_") for event in await history(cli, workflow_id, run_id)
    ]


async def current_run(cli: TemporalCli, workflow_id: str) -> dict[str, Any]:
    info: dict[str, Any] = (await cli.json("workflow", "describe", "--workflow-id", workflow_id))[
        "workflowExecutionInfo"
    ]
    return info


def reset_failure(event: dict[str, Any], base_run: str, new_run: str, scheduled: int) -> None:
    """The WORKFLOW_TASK_FAILED event that a reset writes at the reset point of the new run."""
    assert event["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_FAILED"
    attributes = event["workflowTaskFailedEventAttributes"]
    # The CLI prefixes the reason with the local user name.
    assert attributes["failure"]["message"].endswith(REASON)
    attributes["failure"]["message"] = REASON
    assert_matches(
        mask(attributes, {base_run: "<base-run>", new_run: "<new-run>"}),
        {
            "scheduledEventId": str(scheduled),
            "startedEventId": str(scheduled + 1),
            "cause": "WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW",
            "failure": {"message": REASON, "resetWorkflowFailureInfo": {}},
            "identity": "history-service",
            "baseRunId": "<base-run>",
            "newRunId": "<new-run>",
        },
    )


async def assert_base_run_terminated(cli: TemporalCli, workflow_id: str, base_run: str) -> None:
    events = await history(cli, workflow_id, base_run)
    last = events[-1]
    assert last["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED"
    attributes = last["workflowExecutionTerminatedEventAttributes"]
    assert attributes["reason"].endswith(REASON)
    assert attributes["identity"] == "history-resetter"
    described = await cli.json("workflow", "describe", "--workflow-id", workflow_id, "--run-id", base_run)
    assert described["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_TERMINATED"


async def assert_items_then_finish(cli: TemporalCli, workflow_id: str, items: list[str]) -> None:
    """The new run rebuilt its state from the kept and reapplied events, and still runs to completion."""
    # The CLI renders the SDK's payload of an empty list as null.
    rendered = items or None

    async def queried() -> None:
        result = await cli.json("workflow", "query", "--workflow-id", workflow_id, "--type", "items")
        assert result == {"queryResult": [rendered]}

    await assert_eventually(queried)
    await cli.run("workflow", "signal", "--workflow-id", workflow_id, "--name", "finish")
    closed = await cli.json("workflow", "result", "--workflow-id", workflow_id)
    assert (closed["status"], closed["result"]) == ("COMPLETED", rendered)


async def test_reset_to_first_workflow_task_reapplies_the_signal(
    cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str
) -> None:
    base_run = await collector_with_one_signal(cli, workflow_id, task_queue)
    base_events = await history(cli, workflow_id, base_run)
    reset = await cli.run(
        "workflow", "reset", "--workflow-id", workflow_id, "--type", "FirstWorkflowTask", "--reason", REASON
    )
    assert reset.stdout.strip() == f"Resetting workflow {workflow_id} to event ID 4"

    info = await current_run(cli, workflow_id)
    new_run = assert_uuid(info["execution"]["runId"])
    assert new_run != base_run
    assert info["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"
    assert info["firstRunId"] == base_run
    await assert_base_run_terminated(cli, workflow_id, base_run)

    async def new_history() -> list[dict[str, Any]]:
        events = await history(cli, workflow_id, new_run)
        assert [event["eventType"].removeprefix("EVENT_TYPE_") for event in events] == [
            "WORKFLOW_EXECUTION_STARTED",
            "WORKFLOW_TASK_SCHEDULED",
            "WORKFLOW_TASK_STARTED",
            "WORKFLOW_TASK_FAILED",
            "WORKFLOW_EXECUTION_SIGNALED",
            *WORKFLOW_TASK,
        ]
        return events

    events = await assert_eventually(new_history)
    # Events before the reset point are copied: the started event still names the base run as the first.
    assert mask(events[0]) == mask(base_events[0])
    reset_failure(events[3], base_run, new_run, scheduled=2)
    assert events[4]["workflowExecutionSignaledEventAttributes"] == {
        "signalName": "add",
        "input": {"payloads": [json_payload("a")]},
        "identity": CLI_IDENTITY,
    }

    async def both_runs_listed() -> None:
        listed = await cli.json("workflow", "list", "--query", f"WorkflowId = '{workflow_id}'")
        runs = {(run["execution"]["runId"], run["status"]) for run in listed}
        assert runs == {
            (new_run, "WORKFLOW_EXECUTION_STATUS_RUNNING"),
            (base_run, "WORKFLOW_EXECUTION_STATUS_TERMINATED"),
        }

    await assert_eventually(both_runs_listed, timeout=10)
    await assert_items_then_finish(cli, workflow_id, ["a"])


async def test_reset_to_last_workflow_task_keeps_earlier_signals(
    cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str
) -> None:
    base_run = await collector_with_one_signal(cli, workflow_id, task_queue)
    reset = await cli.run(
        "workflow", "reset", "--workflow-id", workflow_id, "--type", "LastWorkflowTask", "--reason", REASON
    )
    assert reset.stdout.strip() == f"Resetting workflow {workflow_id} to event ID 8"
    new_run = (await current_run(cli, workflow_id))["execution"]["runId"]
    assert new_run != base_run
    await assert_base_run_terminated(cli, workflow_id, base_run)

    async def new_history() -> list[dict[str, Any]]:
        events = await history(cli, workflow_id, new_run)
        assert [event["eventType"].removeprefix("EVENT_TYPE_") for event in events] == [
            "WORKFLOW_EXECUTION_STARTED",
            *WORKFLOW_TASK,
            "WORKFLOW_EXECUTION_SIGNALED",
            "WORKFLOW_TASK_SCHEDULED",
            "WORKFLOW_TASK_STARTED",
            "WORKFLOW_TASK_FAILED",
            *WORKFLOW_TASK,
        ]
        return events

    events = await assert_eventually(new_history)
    reset_failure(events[7], base_run, new_run, scheduled=6)
    await assert_items_then_finish(cli, workflow_id, ["a"])


@pytest.mark.parametrize(("exclude", "items"), [(None, ["a"]), ("Signal", [])])
async def test_reset_by_event_id(
    cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str, exclude: str | None, items: list[str]
) -> None:
    base_run = await collector_with_one_signal(cli, workflow_id, task_queue)
    extra = ["--reapply-exclude", exclude] if exclude else []
    reset = await cli.json(
        "workflow", "reset", "--workflow-id", workflow_id, "--run-id", base_run,
        "--event-id", "4", "--reason", REASON, *extra,
    )  # fmt: skip
    new_run = assert_uuid(reset["runId"])
    assert (await current_run(cli, workflow_id))["execution"]["runId"] == new_run
    await assert_base_run_terminated(cli, workflow_id, base_run)

    reapplied = ["WORKFLOW_EXECUTION_SIGNALED"] if items else []

    async def new_history() -> None:
        assert await event_types(cli, workflow_id, new_run) == [
            "WORKFLOW_EXECUTION_STARTED",
            "WORKFLOW_TASK_SCHEDULED",
            "WORKFLOW_TASK_STARTED",
            "WORKFLOW_TASK_FAILED",
            *reapplied,
            *WORKFLOW_TASK,
        ]

    await assert_eventually(new_history)
    await assert_items_then_finish(cli, workflow_id, items)


async def test_reset_errors(cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str) -> None:
    """A reset point that is not a completed workflow task is refused, and nothing changes."""
    base_run = await collector_with_one_signal(cli, workflow_id, task_queue)
    refused = await cli.run(
        "workflow", "reset", "--workflow-id", workflow_id, "--event-id", "5", "--reason", REASON, expect_rc=1
    )
    assert refused.stderr.startswith("Error: failed to reset workflow: "), refused.stderr
    assert (await current_run(cli, workflow_id))["execution"]["runId"] == base_run
    await cli.run("workflow", "terminate", "--workflow-id", workflow_id)
