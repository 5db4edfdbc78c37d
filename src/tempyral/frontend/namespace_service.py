"""System and namespace RPCs: GetSystemInfo, GetClusterInfo, Register/Describe/List/UpdateNamespace."""

from __future__ import annotations

from temporalio.api.namespace.v1 import message_pb2 as namespace_pb
from temporalio.api.version.v1 import message_pb2 as version_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.durations import checked_seconds, to_duration
from tempyral.errors import InvalidArgument
from tempyral.frontend.context import FrontendDeps, GrpcContext
from tempyral.frontend.grpc_server import Handler
from tempyral.namespaces import CLUSTER_NAME, new_namespace_record

# The Temporal server release whose API and behaviour we follow.
SERVER_VERSION = "1.32.0"
# The real server refuses namespaces that would forget closed workflows within a day.
MIN_RETENTION_SECONDS = 24 * 3600.0
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
        retention = checked_seconds(
            request.workflow_execution_retention_period, "WorkflowExecutionRetentionPeriod"
        )
        if retention < MIN_RETENTION_SECONDS:
            raise InvalidArgument("A valid retention period is not set on request.")
        record = new_namespace_record(
            request.namespace,
            description=request.description,
            owner_email=request.owner_email,
            retention_seconds=retention,
        )
        record.namespace_info.data.update(request.data)
        await self.deps.namespaces.register(record)
        return wsr.RegisterNamespaceResponse()

    async def DescribeNamespace(
        self, request: wsr.DescribeNamespaceRequest, context: GrpcContext
    ) -> wsr.DescribeNamespaceResponse:
        if request.id and not request.namespace:
            namespace = self.deps.namespaces.by_id(request.id)
        else:
            namespace = self.deps.namespaces.get(request.namespace)
        response = wsr.DescribeNamespaceResponse()
        response.CopyFrom(namespace.record)
        # SDKs check their own payloads against these before sending them.
        limits = response.namespace_info.limits
        limits.blob_size_limit_error = self.deps.dynamic.get_int("limit.blobSize.error")
        limits.memo_size_limit_error = self.deps.dynamic.get_int("limit.memoSize.error")
        limits.workflow_task_completion_size_limit_error = WORKFLOW_TASK_COMPLETION_SIZE_LIMIT
        return response

    async def ListNamespaces(
        self, request: wsr.ListNamespacesRequest, context: GrpcContext
    ) -> wsr.ListNamespacesResponse:
        return wsr.ListNamespacesResponse(namespaces=[ns.record for ns in self.deps.namespaces.all()])

    async def UpdateNamespace(
        self, request: wsr.UpdateNamespaceRequest, context: GrpcContext
    ) -> wsr.UpdateNamespaceResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        record = namespace.record
        if request.HasField("update_info"):
            info: namespace_pb.UpdateNamespaceInfo = request.update_info
            if info.description:
                record.namespace_info.description = info.description
            if info.owner_email:
                record.namespace_info.owner_email = info.owner_email
            record.namespace_info.data.update(info.data)
        if request.HasField("config"):
            config = request.config
            if config.HasField("workflow_execution_retention_ttl"):
                seconds = checked_seconds(
                    config.workflow_execution_retention_ttl, "WorkflowExecutionRetentionTtl"
                )
                record.config.workflow_execution_retention_ttl.CopyFrom(to_duration(seconds))
        await self.deps.namespaces.save(namespace)
        return wsr.UpdateNamespaceResponse(
            namespace_info=record.namespace_info,
            config=record.config,
            replication_config=record.replication_config,
            is_global_namespace=record.is_global_namespace,
        )
