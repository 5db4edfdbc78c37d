"""DescribeTaskQueue at the gRPC level, in the default mode (pollers, status, statistics for one task type)
and the ENHANCED mode (pollers and statistics per build id and task type, what `temporal task-queue
describe` asks for), with real pollers and a real backlog.

The real server caches statistics for a few seconds and spreads polls and tasks over partitions, so every
check waits for the answer to settle (`assert_eventually`) and pollers keep polling while it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import (
    BuildIdTaskReachability,
    DescribeTaskQueueMode,
    TaskQueueKind,
    TaskQueueType,
)
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub
from temporalio.client import Client

from tempyral.testing.servers import ServerProcess
from tests.helpers.eventually import assert_eventually

from ._api_support import new_worker, raw_stub, start_request

PollRequest = wsr.PollWorkflowTaskQueueRequest | wsr.PollActivityTaskQueueRequest

WORKFLOW = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
ACTIVITY = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
NEXUS = TaskQueueType.TASK_QUEUE_TYPE_NEXUS
ENHANCED = DescribeTaskQueueMode.DESCRIBE_TASK_QUEUE_MODE_ENHANCED
# What the real server reports for a poller that sets no rate limit of its own.
DEFAULT_POLLER_RATE = 100000.0
# The real server's statistics cache lives ~5 s; leave room for one refresh on a loaded machine.
SETTLE_SECONDS = 15.0


@pytest.fixture
async def stub(server: ServerProcess) -> AsyncIterator[WorkflowServiceStub]:
    async with raw_stub(server.address) as service:
        yield service


def describe_request(task_queue: str, **fields: Any) -> wsr.DescribeTaskQueueRequest:
    return wsr.DescribeTaskQueueRequest(
        namespace="default", task_queue=taskqueue_pb.TaskQueue(name=task_queue), **fields
    )


async def describe(
    stub: WorkflowServiceStub, task_queue: str, **fields: Any
) -> wsr.DescribeTaskQueueResponse:
    response: wsr.DescribeTaskQueueResponse = await stub.DescribeTaskQueue(
        describe_request(task_queue, **fields), timeout=10
    )
    return response


@contextlib.asynccontextmanager
async def polling(stub: WorkflowServiceStub, *requests: PollRequest) -> AsyncIterator[None]:
    """Keep each request long-polling (again and again) until the block ends."""

    async def keep_polling(request: PollRequest) -> None:
        poll = (
            stub.PollWorkflowTaskQueue
            if isinstance(request, wsr.PollWorkflowTaskQueueRequest)
            else stub.PollActivityTaskQueue
        )
        while True:
            await poll(request, timeout=5)

    tasks = [asyncio.create_task(keep_polling(request)) for request in requests]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def workflow_poll(task_queue: str, identity: str, **fields: Any) -> wsr.PollWorkflowTaskQueueRequest:
    return wsr.PollWorkflowTaskQueueRequest(
        namespace="default", task_queue=taskqueue_pb.TaskQueue(name=task_queue), identity=identity, **fields
    )


def activity_poll(task_queue: str, identity: str, **fields: Any) -> wsr.PollActivityTaskQueueRequest:
    return wsr.PollActivityTaskQueueRequest(
        namespace="default", task_queue=taskqueue_pb.TaskQueue(name=task_queue), identity=identity, **fields
    )


def without_access_time(pollers: Any) -> list[taskqueue_pb.PollerInfo]:
    found = []
    for poller in pollers:
        assert poller.HasField("last_access_time")
        copy = taskqueue_pb.PollerInfo()
        copy.CopyFrom(poller)
        copy.ClearField("last_access_time")
        found.append(copy)
    return sorted(found, key=lambda poller: poller.identity)


# -- default mode ------------------------------------------------------------------------------------


async def test_default_mode_lists_what_each_poller_said(stub: WorkflowServiceStub, task_queue: str) -> None:
    """Identity, rate limit (the worker's own, else 100000) and version capabilities, per task type."""
    capabilities = common_pb.WorkerVersionCapabilities(build_id="build-1")
    limited = taskqueue_pb.TaskQueueMetadata(max_tasks_per_second={"value": 7.5})
    async with polling(
        stub,
        workflow_poll(task_queue, "workflow-poller", worker_version_capabilities=capabilities),
        activity_poll(task_queue, "limited-poller", task_queue_metadata=limited),
        activity_poll(task_queue, "plain-poller"),
    ):

        async def both_types() -> None:
            workflows = await describe(stub, task_queue)
            assert without_access_time(workflows.pollers) == [
                taskqueue_pb.PollerInfo(
                    identity="workflow-poller",
                    rate_per_second=DEFAULT_POLLER_RATE,
                    worker_version_capabilities=capabilities,
                )
            ]
            activities = await describe(stub, task_queue, task_queue_type=ACTIVITY)
            assert without_access_time(activities.pollers) == [
                taskqueue_pb.PollerInfo(identity="limited-poller", rate_per_second=7.5),
                taskqueue_pb.PollerInfo(identity="plain-poller", rate_per_second=DEFAULT_POLLER_RATE),
            ]
            # Newest first.
            times = [poller.last_access_time.ToNanoseconds() for poller in activities.pollers]
            assert times == sorted(times, reverse=True)

        await assert_eventually(both_types, timeout=SETTLE_SECONDS)


async def test_default_mode_status_stats_and_versioning_info(
    client: Client, stub: WorkflowServiceStub, task_queue: str, workflow_id: str
) -> None:
    """Two workflow tasks nobody polls: `report_stats` counts both; the status and versioning info are set."""
    for suffix in ("a", "b"):
        await stub.StartWorkflowExecution(start_request(f"{workflow_id}-{suffix}", task_queue), timeout=10)
    try:

        async def backlog() -> None:
            response = await describe(stub, task_queue, report_stats=True, include_task_queue_status=True)
            assert response.stats.approximate_backlog_count == 2
            assert response.stats.approximate_backlog_age.ToNanoseconds() > 0
            assert response.stats.tasks_add_rate > 0
            assert response.stats.tasks_dispatch_rate == 0
            # Tasks carry no priority: all of them count under the default key, 3.
            assert dict(response.stats_by_priority_key) == {3: response.stats}
            # The status is per partition on the real server: only its presence is portable.
            assert response.HasField("task_queue_status")
            assert response.versioning_info == taskqueue_pb.TaskQueueVersioningInfo(
                current_version="__unversioned__", update_time={"seconds": -62135596800}
            )
            assert not response.versions_info

        await assert_eventually(backlog, timeout=SETTLE_SECONDS)
        bare = await describe(stub, task_queue, task_queue_type=ACTIVITY)
        assert not bare.HasField("stats") and not bare.HasField("task_queue_status")
        assert not bare.pollers
    finally:
        for suffix in ("a", "b"):
            await client.get_workflow_handle(f"{workflow_id}-{suffix}").terminate()


# -- enhanced mode -----------------------------------------------------------------------------------


async def test_enhanced_mode_reports_backlog_per_type(
    client: Client, stub: WorkflowServiceStub, task_queue: str, workflow_id: str
) -> None:
    await stub.StartWorkflowExecution(start_request(workflow_id, task_queue), timeout=10)
    try:

        async def backlog() -> None:
            response = await describe(stub, task_queue, api_mode=ENHANCED, report_stats=True)
            assert list(response.versions_info) == [""]
            types = response.versions_info[""].types_info
            assert set(types) == {WORKFLOW, ACTIVITY}
            workflow = types[WORKFLOW].stats
            assert workflow.approximate_backlog_count == 1
            assert workflow.approximate_backlog_age.ToNanoseconds() > 0
            assert workflow.tasks_add_rate > 0 and workflow.tasks_dispatch_rate == 0
            # An empty backlog still reports its age, as 0s.
            assert types[ACTIVITY].HasField("stats") and types[ACTIVITY].stats.HasField(
                "approximate_backlog_age"
            )
            assert types[ACTIVITY].stats == taskqueue_pb.TaskQueueStats(approximate_backlog_age={})
            assert not types[WORKFLOW].pollers  # not asked for
            # Nothing of the default mode's answer.
            assert not response.HasField("versioning_info") and not response.pollers

        await assert_eventually(backlog, timeout=SETTLE_SECONDS)
    finally:
        await client.get_workflow_handle(workflow_id).terminate()


async def test_enhanced_mode_selections(stub: WorkflowServiceStub, task_queue: str) -> None:
    """Which versions and types get an entry, what is in it without report flags, and reachability."""
    bare = await describe(stub, task_queue, api_mode=ENHANCED)
    assert dict(bare.versions_info) == {
        "": taskqueue_pb.TaskQueueVersionInfo(
            types_info={
                WORKFLOW: taskqueue_pb.TaskQueueTypeInfo(),
                ACTIVITY: taskqueue_pb.TaskQueueTypeInfo(),
            }
        )
    }
    activity_only = await describe(stub, task_queue, api_mode=ENHANCED, task_queue_types=[ACTIVITY, ACTIVITY])
    assert list(activity_only.versions_info[""].types_info) == [ACTIVITY]

    nexus = await describe(stub, task_queue, api_mode=ENHANCED, task_queue_types=[NEXUS], report_stats=True)
    assert dict(nexus.versions_info[""].types_info) == {
        NEXUS: taskqueue_pb.TaskQueueTypeInfo(stats={"approximate_backlog_age": {}})
    }

    selected = await describe(
        stub,
        task_queue,
        api_mode=ENHANCED,
        versions=taskqueue_pb.TaskQueueVersionSelection(build_ids=["build-x"], unversioned=True),
        report_task_reachability=True,
    )
    reachability = {build_id: info.task_reachability for build_id, info in selected.versions_info.items()}
    assert reachability == {
        "": BuildIdTaskReachability.BUILD_ID_TASK_REACHABILITY_REACHABLE,
        "build-x": BuildIdTaskReachability.BUILD_ID_TASK_REACHABILITY_UNREACHABLE,
    }
    # No versioned task ever ran here, so no version is active; an empty selection selects nothing.
    for versions in (
        taskqueue_pb.TaskQueueVersionSelection(all_active=True),
        taskqueue_pb.TaskQueueVersionSelection(),
    ):
        nothing = await describe(stub, task_queue, api_mode=ENHANCED, versions=versions, report_stats=True)
        assert nothing == wsr.DescribeTaskQueueResponse()


async def test_enhanced_mode_groups_pollers_by_version(stub: WorkflowServiceStub, task_queue: str) -> None:
    """A poller with versioning on belongs to its build id; the others to the unversioned queue."""
    versioned = common_pb.WorkerVersionCapabilities(build_id="build-v", use_versioning=True)
    unversioned = common_pb.WorkerVersionCapabilities(build_id="build-u")
    async with polling(
        stub,
        workflow_poll(task_queue, "versioned-poller", worker_version_capabilities=versioned),
        workflow_poll(task_queue, "unversioned-poller", worker_version_capabilities=unversioned),
    ):

        async def grouped() -> None:
            response = await describe(
                stub,
                task_queue,
                api_mode=ENHANCED,
                report_pollers=True,
                versions=taskqueue_pb.TaskQueueVersionSelection(build_ids=["build-v"], unversioned=True),
            )
            by_version = {
                build_id: [poller.identity for poller in info.types_info[WORKFLOW].pollers]
                for build_id, info in response.versions_info.items()
            }
            assert by_version == {"": ["unversioned-poller"], "build-v": ["versioned-poller"]}
            assert not response.versions_info[""].types_info[ACTIVITY].pollers

        await assert_eventually(grouped, timeout=SETTLE_SECONDS)


async def test_enhanced_mode_with_an_sdk_worker(
    client: Client, stub: WorkflowServiceStub, task_queue: str
) -> None:
    """A real worker polls both types; the tasks it took show as dispatched, none as backlog."""
    async with new_worker(client, task_queue, identity="describe-worker", build_id="describe-build"):
        result = await client.execute_workflow(
            "GreetWorkflow", "you", id=f"wf-{uuid.uuid4().hex[:12]}", task_queue=task_queue
        )
        assert result == "Hello, you!"

        async def described() -> None:
            response = await describe(
                stub, task_queue, api_mode=ENHANCED, report_pollers=True, report_stats=True
            )
            types = response.versions_info[""].types_info
            for queue_type in (WORKFLOW, ACTIVITY):
                assert [(p.identity, p.rate_per_second) for p in types[queue_type].pollers] == [
                    ("describe-worker", DEFAULT_POLLER_RATE)
                ]
            workflow = types[WORKFLOW].pollers[0]
            assert workflow.worker_version_capabilities.build_id == "describe-build"
            stats = types[WORKFLOW].stats
            assert stats.approximate_backlog_count == 0
            assert stats.tasks_add_rate > 0 and stats.tasks_dispatch_rate > 0

        await assert_eventually(described, timeout=SETTLE_SECONDS)


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_fields", "code", "message"),
    [
        (
            {"task_queue": taskqueue_pb.TaskQueue(name="")},
            grpc.StatusCode.INVALID_ARGUMENT,
            "missing task queue name",
        ),
        ({"task_queue": None}, grpc.StatusCode.INVALID_ARGUMENT, "taskQueue is not set"),
        (
            {"task_queue": taskqueue_pb.TaskQueue(name="q" * 1001)},
            grpc.StatusCode.INVALID_ARGUMENT,
            "taskQueue length exceeds limit",
        ),
        (
            {"task_queue": taskqueue_pb.TaskQueue(name="/_sys/q/0")},
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid task queue partition name /_sys/q/0",
        ),
        (
            {"task_queue": taskqueue_pb.TaskQueue(name="/_sys/q/1"), "api_mode": ENHANCED},
            grpc.StatusCode.INVALID_ARGUMENT,
            "task queue name cannot start with reserved prefix /_sys/",
        ),
        (
            {
                "task_queue": taskqueue_pb.TaskQueue(name="q", kind=TaskQueueKind.TASK_QUEUE_KIND_STICKY),
                "api_mode": ENHANCED,
            },
            grpc.StatusCode.INVALID_ARGUMENT,
            "Enhanced DescribeTaskQueue is not valid for a sticky queue, "
            "use api_mode=UNSPECIFIED or a normal queue.",
        ),
        (
            {"namespace": "no-such-namespace", "task_queue": taskqueue_pb.TaskQueue(name="")},
            grpc.StatusCode.NOT_FOUND,
            "Namespace no-such-namespace is not found.",
        ),
        (
            {"namespace": "", "task_queue": taskqueue_pb.TaskQueue(name="q")},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Namespace is empty.",
        ),
    ],
    ids=[
        "no-name",
        "no-task-queue",
        "long-name",
        "partition-zero",
        "enhanced-partition",
        "enhanced-sticky",
        "unknown-namespace",
        "no-namespace",
    ],
)
async def test_describe_errors(
    stub: WorkflowServiceStub, request_fields: dict[str, Any], code: grpc.StatusCode, message: str
) -> None:
    fields = {"namespace": "default", **request_fields}
    request = wsr.DescribeTaskQueueRequest(**{k: v for k, v in fields.items() if v is not None})
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DescribeTaskQueue(request, timeout=10)
    assert (caught.value.code(), caught.value.details()) == (code, message)


async def test_partition_names_in_default_mode(stub: WorkflowServiceStub, task_queue: str) -> None:
    """`/_sys/<name>/<n>` names a partition of <name>: the answer is about that queue, not an error."""
    response = await describe(stub, f"/_sys/{task_queue}/1", include_task_queue_status=True)
    assert response.task_queue_status.backlog_count_hint == 0
    assert response.versioning_info.current_version == "__unversioned__"
