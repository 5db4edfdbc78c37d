"""`temporal workflow describe` and `temporal workflow show`: what the CLI prints of a run and of its history.

Documents are compared whole after masking times, task ids and sizes (see `_cli.mask`), so a field that one
server sets and the other does not fails the test.
"""

from __future__ import annotations

import base64
import json

from temporalio.worker import Worker

from ._cli import (
    CLI_IDENTITY,
    TemporalCli,
    assert_matches,
    decoded_search_attributes,
    json_payload,
    mask,
    progress_event_types,
    start_collector,
    text_fields,
)
from .conftest import WORKER_BUILD_ID, WORKER_IDENTITY


async def execute_greeter(cli: TemporalCli, workflow_id: str, task_queue: str, name: str) -> str:
    executed = await cli.json(
        "workflow", "execute", "--type", "Greeter", "--task-queue", task_queue,
        "--workflow-id", workflow_id, "--input", json.dumps(name),
    )  # fmt: skip
    run_id: str = executed["runId"]
    return run_id


async def test_show_json_history(cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str) -> None:
    run_id = await execute_greeter(cli, workflow_id, task_queue, "Ann")
    history = await cli.json("workflow", "show", "--workflow-id", workflow_id)
    queue = {"name": task_queue, "kind": "TASK_QUEUE_KIND_NORMAL"}
    assert_matches(
        mask(history, {run_id: "<run>"}),
        {
            "events": [
                {
                    "eventId": "1",
                    "eventTime": "<time>",
                    "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
                    "taskId": "<task-id>",
                    "workflowExecutionStartedEventAttributes": {
                        "workflowType": {"name": "Greeter"},
                        "taskQueue": queue,
                        "input": {"payloads": [json_payload("Ann")]},
                        "workflowExecutionTimeout": "0s",
                        "workflowRunTimeout": "0s",
                        "workflowTaskTimeout": "10s",
                        "originalExecutionRunId": "<run>",
                        "identity": CLI_IDENTITY,
                        "firstExecutionRunId": "<run>",
                        "attempt": 1,
                        "firstWorkflowTaskBackoff": "0s",
                        "header": {},
                        "workflowId": workflow_id,
                    },
                },
                {
                    "eventId": "2",
                    "eventTime": "<time>",
                    "eventType": "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
                    "taskId": "<task-id>",
                    "workflowTaskScheduledEventAttributes": {
                        "taskQueue": queue,
                        "startToCloseTimeout": "10s",
                        "attempt": 1,
                    },
                },
                {
                    "eventId": "3",
                    "eventTime": "<time>",
                    "eventType": "EVENT_TYPE_WORKFLOW_TASK_STARTED",
                    "taskId": "<task-id>",
                    "workflowTaskStartedEventAttributes": {
                        "scheduledEventId": "2",
                        "identity": WORKER_IDENTITY,
                        "requestId": "<uuid>",
                        "historySizeBytes": "<size>",
                        "workerVersion": {"buildId": WORKER_BUILD_ID},
                    },
                },
                {
                    "eventId": "4",
                    "eventTime": "<time>",
                    "eventType": "EVENT_TYPE_WORKFLOW_TASK_COMPLETED",
                    "taskId": "<task-id>",
                    "workflowTaskCompletedEventAttributes": {
                        "scheduledEventId": "2",
                        "startedEventId": "3",
                        "identity": WORKER_IDENTITY,
                        "workerVersion": {"buildId": WORKER_BUILD_ID},
                        "sdkMetadata": "<sdk-metadata>",
                        "meteringMetadata": {},
                    },
                },
                {
                    "eventId": "5",
                    "eventTime": "<time>",
                    "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
                    "taskId": "<task-id>",
                    "workflowExecutionCompletedEventAttributes": {
                        "result": {"payloads": [json_payload("Hello, Ann!")]},
                        "workflowTaskCompletedEventId": "4",
                    },
                },
            ]
        },
    )


async def test_show_text_lists_events(
    cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str
) -> None:
    await start_collector(cli, workflow_id, task_queue)
    await cli.run("workflow", "signal", "--workflow-id", workflow_id, "--name", "add", "--input", '"a"')
    await cli.run(
        "workflow", "update", "execute", "--workflow-id", workflow_id, "--name", "append", "--input", '"b"'
    )
    await cli.run("workflow", "signal", "--workflow-id", workflow_id, "--name", "finish")
    await cli.run("workflow", "result", "--workflow-id", workflow_id)
    shown = await cli.run("workflow", "show", "--workflow-id", workflow_id)
    assert shown.stdout.startswith("Progress:\n")
    types = progress_event_types(shown.stdout)
    # The signal's workflow task and the update's task are separate, or the update rides on the signal's task
    # when it arrives while that task runs: both servers may do either, so only the milestones are fixed.
    assert types[:4] == [
        "WorkflowExecutionStarted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
    ]
    assert types[4] == "WorkflowExecutionSignaled"
    milestones = [t for t in types if not t.startswith("WorkflowTask")]
    assert milestones == [
        "WorkflowExecutionStarted",
        "WorkflowExecutionSignaled",
        "WorkflowExecutionUpdateAccepted",
        "WorkflowExecutionUpdateCompleted",
        "WorkflowExecutionSignaled",
        "WorkflowExecutionCompleted",
    ]
    assert types[-2:] == ["WorkflowTaskCompleted", "WorkflowExecutionCompleted"]


async def test_describe_json_of_a_completed_run(
    cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str
) -> None:
    run_id = await execute_greeter(cli, workflow_id, task_queue, "Ann")
    described = await cli.json("workflow", "describe", "--workflow-id", workflow_id)
    info = described["workflowExecutionInfo"]
    # Checked by their own tests below, so that each difference fails on its own.
    for key in ("searchAttributes", "mostRecentWorkerVersionStamp"):
        info.pop(key, None)
    described.pop("workflowExtendedInfo", None)
    assert_matches(
        mask(described, {run_id: "<run>"}),
        {
            "executionConfig": {
                "taskQueue": {"name": task_queue, "kind": "TASK_QUEUE_KIND_NORMAL"},
                "workflowExecutionTimeout": "0s",
                "workflowRunTimeout": "0s",
                "defaultWorkflowTaskTimeout": "10s",
            },
            "workflowExecutionInfo": {
                "execution": {"workflowId": workflow_id, "runId": "<run>"},
                "type": {"name": "Greeter"},
                "startTime": "<time>",
                "closeTime": "<time>",
                "status": "WORKFLOW_EXECUTION_STATUS_COMPLETED",
                "historyLength": "5",
                "executionTime": "<time>",
                "memo": {},
                "autoResetPoints": {
                    "points": [
                        {
                            "buildId": WORKER_BUILD_ID,
                            "runId": "<run>",
                            "firstWorkflowTaskCompletedId": "4",
                            "createTime": "<time>",
                            "resettable": True,
                        }
                    ]
                },
                "taskQueue": task_queue,
                "stateTransitionCount": "<count>",
                "historySizeBytes": "<size>",
                "executionDuration": "<duration>",
                "rootExecution": {"workflowId": workflow_id, "runId": "<run>"},
                "firstRunId": "<run>",
            },
            "closeEvent": {
                "eventId": "5",
                "eventTime": "<time>",
                "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
                "taskId": "<task-id>",
                "workflowExecutionCompletedEventAttributes": {
                    "result": ["Hello, Ann!"],
                    "workflowTaskCompletedEventId": "4",
                },
            },
            "result": "Hello, Ann!",
        },
    )


async def test_describe_text_of_a_running_workflow(
    cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str
) -> None:
    run_id = await start_collector(cli, workflow_id, task_queue)
    await cli.run(
        "workflow", "update", "execute", "--workflow-id", workflow_id, "--name", "append", "--input", '"a"'
    )
    described = await cli.run("workflow", "describe", "--workflow-id", workflow_id)
    fields = text_fields(described.stdout)
    assert {key: fields.get(key) for key in ("WorkflowId", "RunId", "Type", "Namespace", "TaskQueue")} == {
        "WorkflowId": workflow_id,
        "RunId": run_id,
        "Type": "Collector",
        "Namespace": "default",
        "TaskQueue": task_queue,
    }
    assert (fields["RootWorkflowId"], fields["RootRunId"]) == (workflow_id, run_id)
    # Started, first task, update's task (3 events), accepted, completed.
    assert fields["HistoryLength"] == "9"
    assert "CloseTime" not in fields
    assert described.stdout.rstrip().endswith(
        "Pending Activities: 0\nPending Child Workflows: 0\nPending Nexus Operations: 0"
    )
    await cli.run("workflow", "terminate", "--workflow-id", workflow_id)


async def test_describe_extended_info(
    cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str
) -> None:
    """`workflowExtendedInfo` (DescribeWorkflowExecution's `workflow_extended_info`): original start time, the
    start request id, and whether a cancel was requested; the text output shows it as its own section."""
    await start_collector(cli, workflow_id, task_queue)
    described = await cli.json("workflow", "describe", "--workflow-id", workflow_id)
    extended = described.get("workflowExtendedInfo")
    assert extended is not None, "no workflowExtendedInfo"
    assert extended.get("originalStartTime") == described["workflowExecutionInfo"]["startTime"]
    assert list(extended.get("requestIdInfos", {}).values()) == [
        {"eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "eventId": "1"}
    ]
    assert "cancelRequested" not in extended
    text = await cli.run("workflow", "describe", "--workflow-id", workflow_id)
    section = text.stdout.partition("Extended Execution Info:\n")[2]
    assert text_fields(section.split("\n\n")[0]).get("CancelRequested") == "false", text.stdout

    await cli.run("workflow", "cancel", "--workflow-id", workflow_id)
    await cli.run("workflow", "result", "--workflow-id", workflow_id, expect_rc=1)
    cancelled = await cli.json("workflow", "describe", "--workflow-id", workflow_id)
    assert cancelled.get("workflowExtendedInfo", {}).get("cancelRequested") is True


async def test_describe_reports_the_worker_build_id(
    cli: TemporalCli, worker: Worker, task_queue: str, workflow_id: str
) -> None:
    """The build id the worker sends with its task completions is kept on the run
    (`most_recent_worker_version_stamp`) and in the `BuildIds` search attribute (list filters use it)."""
    await execute_greeter(cli, workflow_id, task_queue, "Ann")
    info = (await cli.json("workflow", "describe", "--workflow-id", workflow_id))["workflowExecutionInfo"]
    build_ids = info["searchAttributes"].get("indexedFields", {}).get("BuildIds")
    assert_matches(
        {
            "mostRecentWorkerVersionStamp": info.get("mostRecentWorkerVersionStamp"),
            "BuildIds.metadata": build_ids and build_ids["metadata"],
            "BuildIds": decoded_search_attributes(info).get("BuildIds"),
        },
        {
            "mostRecentWorkerVersionStamp": {"buildId": WORKER_BUILD_ID},
            "BuildIds.metadata": {
                "encoding": base64.b64encode(b"json/plain").decode(),
                "type": base64.b64encode(b"KeywordList").decode(),
            },
            "BuildIds": ["unversioned", f"unversioned:{WORKER_BUILD_ID}"],
        },
    )
