"""DescribeTaskQueue: who polls a task queue and what waits in it, in the default and the ENHANCED mode.

The default mode answers for one task type: its pollers, optionally a status (the pre-1.24 answer that
`temporal task-queue describe --legacy-mode` prints) and statistics. The ENHANCED mode (the CLI's default)
answers per build id and task type in `versions_info`. Tempyral keeps one partition per queue and no
versioning rules, so every task is unversioned: the unversioned entry ("") carries the backlog and build ids
carry only the pollers that poll with versioning on.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import (
    BuildIdTaskReachability,
    DescribeTaskQueueMode,
    TaskQueueKind,
    TaskQueueType,
    WorkerVersioningMode,
)
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.config import DynamicConfig
from tempyral.errors import InvalidArgument
from tempyral.matching.engine import MatchingEngine, TaskType
from tempyral.matching.task_queue import QueueStats
from tempyral.namespaces import NamespaceRegistry

PollRequest = wsr.PollWorkflowTaskQueueRequest | wsr.PollActivityTaskQueueRequest

# The versions_info key of the unversioned queue.
UNVERSIONED = ""
# What the real server reports for a poller that sets no rate limit of its own.
DEFAULT_POLLER_RATE = 100000.0
# Names of partitions other than the root one: /_sys/<name>/<partition>.
PARTITION_PREFIX = "/_sys/"
# Tasks carry no priority here, so all of them count under the default priority key.
DEFAULT_PRIORITY_KEY = 3
# With no worker deployments, the current version is "unversioned", never updated (0001-01-01T00:00:00Z).
UNVERSIONED_DEPLOYMENT = "__unversioned__"
NEVER = Timestamp(seconds=-62135596800)

# The task types matching keeps queues for; also the types ENHANCED mode reports when none is asked for.
_ENHANCED_TYPES: dict[TaskQueueType.ValueType, TaskType] = {
    TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW: "workflow",
    TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY: "activity",
}
# The default mode reads an unspecified type as workflow.
_DEFAULT_MODE_TYPES: dict[TaskQueueType.ValueType, TaskType] = {
    TaskQueueType.TASK_QUEUE_TYPE_UNSPECIFIED: "workflow",
    **_ENHANCED_TYPES,
}


def poller_info(request: PollRequest) -> taskqueue_pb.PollerInfo:
    """What a poll says about its worker, as DescribeTaskQueue lists it (the access time is added there)."""
    info = taskqueue_pb.PollerInfo(identity=request.identity, rate_per_second=_poller_rate(request))
    if request.HasField("worker_version_capabilities"):
        info.worker_version_capabilities.CopyFrom(request.worker_version_capabilities)
    elif isinstance(request, wsr.PollWorkflowTaskQueueRequest) and request.binary_checksum:
        # SDKs send their build id as capabilities only to servers advertising build_id_based_versioning,
        # which Tempyral does not; to others they send it as the binary checksum. Reported the way the
        # real server reports the same worker.
        info.worker_version_capabilities.build_id = request.binary_checksum
    if request.HasField("deployment_options"):
        info.deployment_options.CopyFrom(request.deployment_options)
    return info


def _poller_rate(request: PollRequest) -> float:
    if isinstance(request, wsr.PollActivityTaskQueueRequest) and request.task_queue_metadata.HasField(
        "max_tasks_per_second"
    ):
        return request.task_queue_metadata.max_tasks_per_second.value
    return DEFAULT_POLLER_RATE


def describe_task_queue(
    request: wsr.DescribeTaskQueueRequest,
    namespaces: NamespaceRegistry,
    matching: MatchingEngine,
    dynamic: DynamicConfig,
) -> wsr.DescribeTaskQueueResponse:
    namespace = namespaces.get(request.namespace)
    name = _checked_name(request, dynamic)
    if request.api_mode == DescribeTaskQueueMode.DESCRIBE_TASK_QUEUE_MODE_ENHANCED:
        return _describe_enhanced(request, matching, namespace.id, name)
    return _describe_default(request, matching, namespace.id, name)


def _checked_name(request: wsr.DescribeTaskQueueRequest, dynamic: DynamicConfig) -> str:
    if not request.HasField("task_queue"):
        raise InvalidArgument("taskQueue is not set")
    name = request.task_queue.name
    if not name:
        raise InvalidArgument("missing task queue name")
    if len(name.encode()) > dynamic.get_int("limit.maxIDLength"):
        raise InvalidArgument("taskQueue length exceeds limit")
    return name


# -- default mode ------------------------------------------------------------------------------------


def _describe_default(
    request: wsr.DescribeTaskQueueRequest, matching: MatchingEngine, namespace_id: str, name: str
) -> wsr.DescribeTaskQueueResponse:
    sticky = request.task_queue.kind == TaskQueueKind.TASK_QUEUE_KIND_STICKY
    name, partition = (name, 0) if sticky else _partition_of(name)
    task_type = _DEFAULT_MODE_TYPES.get(request.task_queue_type)
    response = wsr.DescribeTaskQueueResponse()
    response.versioning_info.current_version = UNVERSIONED_DEPLOYMENT
    response.versioning_info.update_time.CopyFrom(NEVER)
    stats = QueueStats()
    if task_type is not None:  # nexus and unknown types: a queue nobody can poll here
        # One partition serves every partition's name; its backlog belongs to the root one.
        response.pollers.extend(matching.pollers(namespace_id, name, task_type))
        stats = matching.stats(namespace_id, name, task_type)
    if request.include_task_queue_status:
        response.task_queue_status.SetInParent()  # the CLI reads it unconditionally
        response.task_queue_status.backlog_count_hint = stats.backlog_count if partition == 0 else 0
    if request.report_stats:
        response.stats.CopyFrom(_stats_message(stats))
        response.stats_by_priority_key[DEFAULT_PRIORITY_KEY].CopyFrom(response.stats)
    return response


def _partition_of(name: str) -> tuple[str, int]:
    """`/_sys/<name>/<n>` (n ≥ 1) names partition n of `<name>`; any other name is the root partition."""
    if not name.startswith(PARTITION_PREFIX):
        return name, 0
    base, _, number = name[len(PARTITION_PREFIX) :].rpartition("/")
    if not base or not number.isdigit() or int(number) == 0:
        raise InvalidArgument(f"invalid task queue partition name {name}")
    return base, int(number)


# -- enhanced mode -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Queue:
    """One task queue name in one namespace, whatever its task type."""

    matching: MatchingEngine
    namespace_id: str
    name: str

    def pollers(self, queue_type: TaskQueueType.ValueType, build_id: str) -> list[taskqueue_pb.PollerInfo]:
        task_type = _ENHANCED_TYPES.get(queue_type)
        if task_type is None:
            return []
        pollers = self.matching.pollers(self.namespace_id, self.name, task_type)
        return [poller for poller in pollers if _version_of(poller) == build_id]

    def stats(self, queue_type: TaskQueueType.ValueType, build_id: str) -> QueueStats:
        task_type = _ENHANCED_TYPES.get(queue_type)
        if task_type is None or build_id != UNVERSIONED:
            return QueueStats()
        return self.matching.stats(self.namespace_id, self.name, task_type)


def _describe_enhanced(
    request: wsr.DescribeTaskQueueRequest, matching: MatchingEngine, namespace_id: str, name: str
) -> wsr.DescribeTaskQueueResponse:
    if name.startswith(PARTITION_PREFIX):
        raise InvalidArgument(f"task queue name cannot start with reserved prefix {PARTITION_PREFIX}")
    if request.task_queue.kind == TaskQueueKind.TASK_QUEUE_KIND_STICKY:
        raise InvalidArgument(
            "Enhanced DescribeTaskQueue is not valid for a sticky queue, "
            "use api_mode=UNSPECIFIED or a normal queue."
        )
    queue = _Queue(matching, namespace_id, name)
    # Any other requested type (unspecified, nexus, unknown) gets its own, empty, entry.
    types = list(dict.fromkeys(request.task_queue_types)) or list(_ENHANCED_TYPES)
    response = wsr.DescribeTaskQueueResponse()
    for build_id in _selected_build_ids(request):
        version = response.versions_info[build_id]
        for queue_type in types:
            info = version.types_info[queue_type]  # present even when nothing is reported in it
            if request.report_pollers:
                info.pollers.extend(queue.pollers(queue_type, build_id))
            if request.report_stats:
                info.stats.CopyFrom(_stats_message(queue.stats(queue_type, build_id)))
        if request.report_task_reachability:
            version.task_reachability = _reachability(build_id)
    return response


def _selected_build_ids(request: wsr.DescribeTaskQueueRequest) -> list[str]:
    """The versions asked about; without a selection, the default one, which is the unversioned queue.

    `all_active` adds the active versioned build ids: there are none, as no task is ever versioned here.
    """
    if not request.HasField("versions"):
        return [UNVERSIONED]
    selected = list(request.versions.build_ids)
    if request.versions.unversioned:
        selected.append(UNVERSIONED)
    return list(dict.fromkeys(selected))


def _version_of(poller: taskqueue_pb.PollerInfo) -> str:
    """The version a poller serves: its build id with versioning on, its deployment version, or none."""
    capabilities = poller.worker_version_capabilities
    if capabilities.use_versioning:
        return capabilities.build_id
    options = poller.deployment_options
    if options.worker_versioning_mode == WorkerVersioningMode.WORKER_VERSIONING_MODE_VERSIONED:
        return f"{options.deployment_name}:{options.build_id}"
    return UNVERSIONED


def _reachability(build_id: str) -> BuildIdTaskReachability.ValueType:
    """Without assignment rules new runs go unversioned, and no run is ever assigned a build id."""
    if build_id == UNVERSIONED:
        return BuildIdTaskReachability.BUILD_ID_TASK_REACHABILITY_REACHABLE
    return BuildIdTaskReachability.BUILD_ID_TASK_REACHABILITY_UNREACHABLE


def _stats_message(stats: QueueStats) -> taskqueue_pb.TaskQueueStats:
    message = taskqueue_pb.TaskQueueStats(
        approximate_backlog_count=stats.backlog_count,
        tasks_add_rate=stats.add_rate,
        tasks_dispatch_rate=stats.dispatch_rate,
    )
    # Always present ("0s" for an empty backlog), as the real server sends it.
    message.approximate_backlog_age.SetInParent()
    message.approximate_backlog_age.FromNanoseconds(round(stats.backlog_age * 1e9))
    return message
