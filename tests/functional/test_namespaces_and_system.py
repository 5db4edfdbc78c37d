"""Namespace lifecycle (Register/Describe/List/UpdateNamespace), namespace isolation, and the server-wide
GetSystemInfo and GetClusterInfo calls."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
from google.protobuf import duration_pb2
from temporalio.api.enums.v1 import NamespaceState
from temporalio.api.errordetails.v1 import message_pb2 as errordetails_pb
from temporalio.api.namespace.v1 import message_pb2 as namespace_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub
from temporalio.client import Client, WorkflowExecutionStatus

from tempyral.testing.servers import ServerProcess

from ._api_support import new_worker, raw_stub, unpack_detail
from ._api_workflows import GreetWorkflow, WaitWorkflow

DAY = 86_400


@pytest.fixture
async def stub(server: ServerProcess) -> AsyncIterator[WorkflowServiceStub]:
    async with raw_stub(server.address) as service:
        yield service


def _fresh_namespace() -> str:
    return f"ns-{uuid.uuid4().hex[:10]}"


async def _register(stub: WorkflowServiceStub, name: str, **fields: object) -> None:
    await stub.RegisterNamespace(
        wsr.RegisterNamespaceRequest(
            namespace=name, workflow_execution_retention_period=duration_pb2.Duration(seconds=DAY), **fields
        ),
        timeout=10,
    )


async def _all_namespace_names(stub: WorkflowServiceStub) -> list[str]:
    names: list[str] = []
    token = b""
    for _ in range(50):
        response = await stub.ListNamespaces(
            wsr.ListNamespacesRequest(page_size=2, next_page_token=token), timeout=10
        )
        names.extend(entry.namespace_info.name for entry in response.namespaces)
        token = response.next_page_token
        if not token:
            return names
    raise AssertionError("ListNamespaces kept returning a next_page_token")


async def test_register_describe_update_list(stub: WorkflowServiceStub) -> None:
    name = _fresh_namespace()
    await stub.RegisterNamespace(
        wsr.RegisterNamespaceRequest(
            namespace=name,
            description="first description",
            owner_email="owner@example.com",
            workflow_execution_retention_period=duration_pb2.Duration(seconds=2 * DAY),
            data={"team": "payments"},
        ),
        timeout=10,
    )
    described = await stub.DescribeNamespace(wsr.DescribeNamespaceRequest(namespace=name), timeout=10)
    info = described.namespace_info
    assert (info.name, info.description, info.owner_email) == (name, "first description", "owner@example.com")
    assert info.state == NamespaceState.NAMESPACE_STATE_REGISTERED
    assert dict(info.data) == {"team": "payments"}
    assert info.id
    # SDKs may look at these before sending updates.
    assert info.capabilities.sync_update and info.capabilities.async_update
    assert described.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(days=2)
    by_id = await stub.DescribeNamespace(wsr.DescribeNamespaceRequest(id=info.id), timeout=10)
    assert by_id.namespace_info.name == name

    updated = await stub.UpdateNamespace(
        wsr.UpdateNamespaceRequest(
            namespace=name,
            update_info=namespace_pb.UpdateNamespaceInfo(
                description="second description", data={"tier": "1"}
            ),
            config=namespace_pb.NamespaceConfig(
                workflow_execution_retention_ttl=duration_pb2.Duration(seconds=3 * DAY)
            ),
        ),
        timeout=10,
    )
    assert updated.namespace_info.description == "second description"
    after = await stub.DescribeNamespace(wsr.DescribeNamespaceRequest(namespace=name), timeout=10)
    assert after.namespace_info.description == "second description"
    assert after.namespace_info.owner_email == "owner@example.com"  # fields not updated are kept
    assert dict(after.namespace_info.data) == {"team": "payments", "tier": "1"}  # data is merged
    assert after.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(days=3)
    assert after.namespace_info.id == info.id

    names = await _all_namespace_names(stub)
    assert len(names) == len(set(names))
    assert {"default", "other-namespace", name} <= set(names)


async def test_register_existing_namespace_fails(stub: WorkflowServiceStub) -> None:
    name = _fresh_namespace()
    await _register(stub, name)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _register(stub, name)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "already exists" in (caught.value.details() or "")
    unpack_detail(caught.value, errordetails_pb.NamespaceAlreadyExistsFailure)


async def test_register_validates_request(stub: WorkflowServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as no_retention:
        await stub.RegisterNamespace(wsr.RegisterNamespaceRequest(namespace=_fresh_namespace()), timeout=10)
    assert no_retention.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "retention" in (no_retention.value.details() or "").lower()
    with pytest.raises(grpc.aio.AioRpcError) as no_name:
        await _register(stub, "")
    assert no_name.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "namespace" in (no_name.value.details() or "").lower()


async def test_update_unknown_namespace_is_not_found(stub: WorkflowServiceStub) -> None:
    missing = _fresh_namespace()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpdateNamespace(
            wsr.UpdateNamespaceRequest(
                namespace=missing, update_info=namespace_pb.UpdateNamespaceInfo(description="x")
            ),
            timeout=10,
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert unpack_detail(caught.value, errordetails_pb.NamespaceNotFoundFailure).namespace == missing


async def test_new_namespace_runs_workflows(
    server: ServerProcess, stub: WorkflowServiceStub, task_queue: str
) -> None:
    name = _fresh_namespace()
    await _register(stub, name)
    client = await Client.connect(server.address, namespace=name)
    async with new_worker(client, task_queue):
        result = await client.execute_workflow(
            GreetWorkflow.run, "namespace", id="greet", task_queue=task_queue
        )
    assert result == "Hello, namespace!"


async def test_workflow_ids_are_per_namespace(server: ServerProcess, client: Client, task_queue: str) -> None:
    other = await Client.connect(server.address, namespace="other-namespace")
    workflow_id = f"shared-{uuid.uuid4().hex[:8]}"
    here = await client.start_workflow(WaitWorkflow.run, id=workflow_id, task_queue=task_queue)
    # The same id in another namespace is a different workflow, not an ALREADY_EXISTS.
    there = await other.start_workflow(WaitWorkflow.run, id=workflow_id, task_queue=task_queue)
    assert here.result_run_id != there.result_run_id
    await there.terminate()
    assert (await here.describe()).status == WorkflowExecutionStatus.RUNNING
    assert (await there.describe()).status == WorkflowExecutionStatus.TERMINATED
    await here.terminate()


async def test_get_system_info(stub: WorkflowServiceStub) -> None:
    info = await stub.GetSystemInfo(wsr.GetSystemInfoRequest(), timeout=10)
    assert info.server_version
    # SDKs keep their replay flags in WORKFLOW_TASK_COMPLETED's sdk_metadata only when this is true.
    assert info.capabilities.sdk_metadata


async def test_get_cluster_info(stub: WorkflowServiceStub) -> None:
    info = await stub.GetClusterInfo(wsr.GetClusterInfoRequest(), timeout=10)
    assert info.cluster_id
    assert info.cluster_name
    assert info.server_version
    assert info.history_shard_count >= 1
    assert info.persistence_store
