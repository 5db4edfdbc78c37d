"""`temporal task-queue describe`, enhanced (the default: pollers and backlog statistics per task type) and
`--legacy-mode` (the pre-1.24 DescribeTaskQueue answer: pollers and task queue status)."""

from __future__ import annotations

from typing import Any

from temporalio.worker import Worker

from tests.helpers.eventually import assert_eventually

from ._cli import TemporalCli, assert_matches, table_rows
from .conftest import WORKER_BUILD_ID, WORKER_IDENTITY

# What the real server reports for a poller that sets no rate limit of its own.
DEFAULT_POLLER_RATE = 100000


def pollers(described: dict[str, Any]) -> set[tuple[Any, ...]]:
    return {
        (poller["buildId"], poller["taskQueueType"], poller["identity"], poller["ratePerSecond"])
        for poller in described.get("pollers") or []
    }


def backlogs(described: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {
        stat["taskQueueType"]: (stat["buildId"], stat["approximateBacklogCount"])
        for stat in described.get("stats") or []
    }


async def test_describe_lists_workflow_and_activity_pollers(
    cli: TemporalCli, worker: Worker, task_queue: str
) -> None:
    async def both_pollers() -> dict[str, Any]:
        described: dict[str, Any] = await cli.json("task-queue", "describe", "--task-queue", task_queue)
        assert pollers(described) == {
            ("UNVERSIONED", "workflow", WORKER_IDENTITY, DEFAULT_POLLER_RATE),
            ("UNVERSIONED", "activity", WORKER_IDENTITY, DEFAULT_POLLER_RATE),
        }
        return described

    described = await assert_eventually(both_pollers, timeout=10)
    assert described["reachability"] is None
    assert backlogs(described) == {"workflow": ("UNVERSIONED", 0), "activity": ("UNVERSIONED", 0)}
    for stat in described["stats"]:
        assert stat["approximateBacklogAge"] == "0s"
        assert {"backlogIncreaseRate", "tasksAddRate", "tasksDispatchRate"} <= stat.keys()

    activity_only = await cli.json(
        "task-queue", "describe", "--task-queue", task_queue, "--task-queue-type", "activity"
    )
    assert pollers(activity_only) == {("UNVERSIONED", "activity", WORKER_IDENTITY, DEFAULT_POLLER_RATE)}
    assert set(backlogs(activity_only)) == {"activity"}


async def test_describe_text(cli: TemporalCli, worker: Worker, task_queue: str) -> None:
    async def table() -> None:
        described = await cli.run("task-queue", "describe", "--task-queue", task_queue)
        stats = table_rows(described.stdout, "BuildID    TaskQueueType  ApproximateBacklogCount")
        assert {(row[0], row[1], row[2], row[3]) for row in stats} == {
            ("UNVERSIONED", "workflow", "0", "0s"),
            ("UNVERSIONED", "activity", "0", "0s"),
        }
        rows = table_rows(described.stdout.partition("Pollers:")[2], "BuildID")
        assert {(row[0], row[1], row[2], row[-1]) for row in rows} == {
            ("UNVERSIONED", "workflow", WORKER_IDENTITY, str(DEFAULT_POLLER_RATE)),
            ("UNVERSIONED", "activity", WORKER_IDENTITY, str(DEFAULT_POLLER_RATE)),
        }

    await assert_eventually(table, timeout=10)


async def test_describe_reports_the_backlog(cli: TemporalCli, task_queue: str, workflow_id: str) -> None:
    """Two workflow tasks and nobody polling: the workflow backlog is 2, the activity backlog 0."""
    for suffix in ("1", "2"):
        await cli.run(
            "workflow", "start", "--type", "Greeter", "--task-queue", task_queue,
            "--workflow-id", f"{workflow_id}-{suffix}", "--input", '"x"',
        )  # fmt: skip

    async def backlog() -> None:
        described = await cli.json("task-queue", "describe", "--task-queue", task_queue)
        assert pollers(described) == set()
        assert backlogs(described) == {"workflow": ("UNVERSIONED", 2), "activity": ("UNVERSIONED", 0)}

    await assert_eventually(backlog, timeout=10)
    for suffix in ("1", "2"):
        await cli.run("workflow", "terminate", "--workflow-id", f"{workflow_id}-{suffix}")


async def test_describe_legacy_mode(cli: TemporalCli, worker: Worker, task_queue: str) -> None:
    async def workflow_poller() -> dict[str, Any]:
        described: dict[str, Any] = await cli.json(
            "task-queue", "describe", "--task-queue", task_queue, "--legacy-mode"
        )
        assert [poller["identity"] for poller in described["pollers"] or []] == [WORKER_IDENTITY]
        return described

    described = await assert_eventually(workflow_poller, timeout=10)
    poller = dict(described["pollers"][0])
    assert set(poller.pop("last_access_time", {})) == {"seconds", "nanos"}
    assert_matches(
        poller,
        {
            "partition": 0,
            "identity": WORKER_IDENTITY,
            "rate_per_second": DEFAULT_POLLER_RATE,
            "worker_version_capabilities": {"build_id": WORKER_BUILD_ID},
        },
    )
    # The rest of the legacy status (rate limit, task id block, versioning info) is the real server's
    # persistence bookkeeping: only the partition is compared.
    assert [status["partition"] for status in described["taskQueues"]] == [0]
    # No worker deployments: the current version is unversioned and was never set (0001-01-01T00:00:00Z).
    assert described["versioning_info"] == {
        "current_version": "__unversioned__",
        "update_time": {"seconds": -62135596800},
    }

    activity = await cli.json(
        "task-queue",
        "describe",
        "--task-queue",
        task_queue,
        "--legacy-mode",
        "--task-queue-type-legacy",
        "activity",
    )
    assert [poller["identity"] for poller in activity["pollers"] or []] == [WORKER_IDENTITY]

    text = await cli.run("task-queue", "describe", "--task-queue", task_queue, "--legacy-mode")
    rows = table_rows(text.stdout, "Identity")
    assert [(row[0], row[-1]) for row in rows] == [(WORKER_IDENTITY, str(DEFAULT_POLLER_RATE))]
    assert text.stdout.rstrip().endswith("Versioning Info:"), text.stdout
