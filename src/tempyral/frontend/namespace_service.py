"""System and namespace RPCs: GetSystemInfo, GetClusterInfo, Register/Describe/List/UpdateNamespace.

DeleteNamespace is an OperatorService call: see `operator_service.py`.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import duration_pb2
from temporalio.api.enums.v1 import ReplicationState
from temporalio.api.namespace.v1 import message_pb2 as namespace_pb
from temporalio.api.replication.v1 import message_pb2 as replication_pb
from temporalio.api.version.v1 import message_pb2 as version_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.durations import seconds_of, to_duration
from tempyral.errors import InvalidArgument
from tempyral.frontend.context import FrontendDeps, GrpcContext
from tempyral.frontend.grpc_server import Handler
from tempyral.namespaces import (
    ANY_STATE,
    CLUSTER_NAME,
    Namespace,
    check_state_change,
    new_namespace_record,
)

# The Temporal server release whose API and behaviour we follow.
SERVER_VERSION = "1.32.0"
# The real server refuses namespaces that would forget closed workflows within the hour.
MIN_RETENTION_SECONDS = 3600.0
# What the real server advertises as the largest workflow task completion it accepts.
WORKFLOW_TASK_COMPLETION_SIZE_LIMIT = 40 * 1024 * 1024
CLUSTER_ID = "tempyral-single-node"


class NamespaceService:
    def __init__(self, deps: FrontendDeps) -> None:
        self.deps = deps

    def methods(self) -> dict[str, Handler]:
        return {
            "GetSystemInfo": self.GetSystemInfo,
            "GetClusterInfo": self.GetClusterInfo,
            "RegisterNamespace": self.RegisterNamespace,
            "DescribeNamespace": self.DescribeNamespace,
            "ListNamespaces": self.ListNamespaces,
            "UpdateNamespace": self.UpdateNamespace,
        }

    async def GetSystemInfo(
        self, request: wsr.GetSystemInfoRequest, context: GrpcContext
    ) -> wsr.GetSystemInfoResponse:
        # Advertise only what works: SDKs change behaviour on these flags.
        capabilities = wsr.GetSystemInfoResponse.Capabilities(
            sdk_metadata=True,
            signal_and_query_header=True,
            upsert_memo=True,
            count_group_by_execution_status=True,
            encoded_failure_attributes=True,
            activity_failure_include_heartbeat=True,
        )
        return wsr.GetSystemInfoResponse(server_version=SERVER_VERSION, capabilities=capabilities)

    async def GetClusterInfo(
        self, request: wsr.GetClusterInfoRequest, context: GrpcContext
    ) -> wsr.GetClusterInfoResponse:
        return wsr.GetClusterInfoResponse(
            server_version=SERVER_VERSION,
            cluster_id=CLUSTER_ID,
            cluster_name=CLUSTER_NAME,
            history_shard_count=1,
            persistence_store="sqlite",
            visibility_store="sqlite",
            version_info=version_pb.VersionInfo(current=version_pb.ReleaseInfo(version=SERVER_VERSION)),
        )

    async def RegisterNamespace(
        self, request: wsr.RegisterNamespaceRequest, context: GrpcContext
    ) -> wsr.RegisterNamespaceResponse:
        # The real server's order of checks: name, global, retention, clusters, then existence.
        if not request.namespace:
            raise InvalidArgument("Namespace not set on request.")
        if request.is_global_namespace:
            raise InvalidArgument("Cannot register global namespace when not enabled")
        retention = _valid_retention(request.workflow_execution_retention_period)
        _check_clusters(request.active_cluster_name, request.clusters)
        record = new_namespace_record(
            request.namespace,
            description=request.description,
            owner_email=request.owner_email,
            retention_seconds=retention,
        )
        record.namespace_info.data.update(request.data)
        record.replication_config.state = ReplicationState.REPLICATION_STATE_NORMAL
        # Archival states and URIs are accepted and ignored: the dev server has archival off.
        await self.deps.namespaces.register(record)
        return wsr.RegisterNamespaceResponse()

    async def DescribeNamespace(
        self, request: wsr.DescribeNamespaceRequest, context: GrpcContext
    ) -> wsr.DescribeNamespaceResponse:
        if request.id and not request.namespace:
            namespace = self.deps.namespaces.by_id(request.id)
        elif request.namespace:
            namespace = self.deps.namespaces.get(request.namespace, ANY_STATE)
        else:
            raise InvalidArgument("Namespace not set on request.")
        return self._described(namespace)

    def _described(self, namespace: Namespace) -> wsr.DescribeNamespaceResponse:
        response = wsr.DescribeNamespaceResponse()
        response.CopyFrom(namespace.record)
        # SDKs check their own payloads against these before sending them.
        limits = response.namespace_info.limits
        limits.blob_size_limit_error = self.deps.dynamic.get_int("limit.blobSize.error")
        limits.memo_size_limit_error = self.deps.dynamic.get_int("limit.memoSize.error")
        limits.workflow_task_completion_size_limit_error = WORKFLOW_TASK_COMPLETION_SIZE_LIMIT
        # Only what works here: updates both ways; no eager start, worker heartbeats, standalone
        # activities, poller autoscaling or schedules (all advertised by the real dev server).
        capabilities = response.namespace_info.capabilities
        capabilities.sync_update = True
        capabilities.async_update = True
        return response

    async def ListNamespaces(
        self, request: wsr.ListNamespacesRequest, context: GrpcContext
    ) -> wsr.ListNamespacesResponse:
        namespaces, next_token = self.deps.namespaces.page(
            request.page_size, request.next_page_token, request.namespace_filter.include_deleted
        )
        return wsr.ListNamespacesResponse(
            namespaces=[self._described(ns) for ns in namespaces], next_page_token=next_token
        )

    async def UpdateNamespace(
        self, request: wsr.UpdateNamespaceRequest, context: GrpcContext
    ) -> wsr.UpdateNamespaceResponse:
        if not request.namespace:
            raise InvalidArgument("Namespace not set on request.")
        namespace = self.deps.namespaces.get(request.namespace)
        _check_update(namespace, request)
        record = wsr.DescribeNamespaceResponse()
        record.CopyFrom(namespace.record)
        _apply_update(record, request)
        namespace.record = record
        await self.deps.namespaces.save(namespace)
        described = self._described(namespace)
        return wsr.UpdateNamespaceResponse(
            namespace_info=described.namespace_info,
            config=described.config,
            replication_config=described.replication_config,
            failover_version=described.failover_version,
            is_global_namespace=described.is_global_namespace,
        )


def _valid_retention(retention: duration_pb2.Duration) -> float:
    seconds = seconds_of(retention)
    if seconds < MIN_RETENTION_SECONDS:
        raise InvalidArgument("A valid retention period is not set on request.")
    return seconds


def _check_clusters(
    active_cluster_name: str, clusters: Iterable[replication_pb.ClusterReplicationConfig]
) -> None:
    """A single-cluster server knows only its own cluster."""
    for name in [active_cluster_name, *(cluster.cluster_name for cluster in clusters)]:
        if name and name != CLUSTER_NAME:
            raise InvalidArgument(f"Invalid cluster name: {name}")


def _check_update(namespace: Namespace, request: wsr.UpdateNamespaceRequest) -> None:
    """UpdateNamespace's checks, in the real server's order."""
    check_state_change(namespace, request.update_info.state)
    if request.config.HasField("workflow_execution_retention_ttl"):
        _valid_retention(request.config.workflow_execution_retention_ttl)
    replication = request.replication_config
    if replication.state == ReplicationState.REPLICATION_STATE_HANDOVER:
        raise InvalidArgument("Handover can only be set for global namespace")
    _check_clusters(replication.active_cluster_name, replication.clusters)
    if request.promote_namespace:
        raise InvalidArgument(
            "global namespace is not enabled on this cluster, cannot update global namespace or "
            f"promote local namespace: {namespace.name}"
        )


def _apply_update(record: wsr.DescribeNamespaceResponse, request: wsr.UpdateNamespaceRequest) -> None:
    """Empty fields leave the namespace as it is; data is merged key by key."""
    info: namespace_pb.UpdateNamespaceInfo = request.update_info
    if info.description:
        record.namespace_info.description = info.description
    if info.owner_email:
        record.namespace_info.owner_email = info.owner_email
    record.namespace_info.data.update(info.data)
    if info.state:
        record.namespace_info.state = info.state
    config = request.config
    if config.HasField("workflow_execution_retention_ttl"):
        seconds = seconds_of(config.workflow_execution_retention_ttl)
        record.config.workflow_execution_retention_ttl.CopyFrom(to_duration(seconds))
    if request.replication_config.state == ReplicationState.REPLICATION_STATE_NORMAL:
        record.replication_config.state = ReplicationState.REPLICATION_STATE_NORMAL
