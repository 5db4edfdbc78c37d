"""Namespace administration through the raw service calls the `temporal operator` commands make:
DeleteNamespace and what it does to a namespace's name, state, workflows and search attributes; the fields
and errors of Register/UpdateNamespace; ListNamespaces paging; search-attribute admin edge cases.

Never deletes `default`: the real dev server allows it, and the session's server is shared.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import ArchivalState, IndexedValueType, NamespaceState, ReplicationState
from temporalio.api.errordetails.v1 import message_pb2 as errordetails_pb
from temporalio.api.namespace.v1 import message_pb2 as namespace_pb
from temporalio.api.operatorservice.v1 import request_response_pb2 as osr
from temporalio.api.replication.v1 import message_pb2 as replication_pb
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from tempyral.testing.servers import ServerProcess
from tests.conftest import SERVER_KIND
from tests.helpers.eventually import assert_eventually

M = TypeVar("M", bound=Message)
HOUR = 3600
KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
DELETED_INVALID_STATE = "Namespace has invalid state: Deleted. Must be Registered or Deprecated."


def _fresh_name() -> str:
    return f"ns-admin-{uuid.uuid4().hex[:10]}"


async def _register(client: Client, name: str, retention_seconds: int = 24 * HOUR, **fields: Any) -> str:
    """Register `name`; returns its id."""
    await client.workflow_service.register_namespace(
        wsr.RegisterNamespaceRequest(
            namespace=name,
            workflow_execution_retention_period=duration_pb2.Duration(seconds=retention_seconds),
            **fields,
        )
    )
    return (await _describe(client, name)).namespace_info.id


async def _describe(client: Client, name: str) -> wsr.DescribeNamespaceResponse:
    return await client.workflow_service.describe_namespace(wsr.DescribeNamespaceRequest(namespace=name))


async def _delete(client: Client, **fields: str) -> str:
    response = await client.operator_service.delete_namespace(osr.DeleteNamespaceRequest(**fields))
    return response.deleted_namespace


async def _update(client: Client, name: str, **fields: Any) -> wsr.UpdateNamespaceResponse:
    return await client.workflow_service.update_namespace(
        wsr.UpdateNamespaceRequest(namespace=name, **fields)
    )


async def _error_of(call: Awaitable[Any]) -> RPCError:
    """The RPCError `call` raises; an AssertionError (which `assert_eventually` retries) if none."""
    try:
        await call
    except RPCError as error:
        return error
    raise AssertionError("the call succeeded")


async def _fails(call: Awaitable[Any], status: RPCStatusCode, message: str) -> RPCError:
    """The RPCError `call` raises; checks its status code and exact message."""
    error = await _error_of(call)
    assert (error.status, error.message) == (status, message)
    return error


def _detail(error: RPCError, message_type: type[M]) -> M:
    found = [d for d in error.grpc_status.details if d.Is(message_type.DESCRIPTOR)]
    assert found, f"no {message_type.DESCRIPTOR.full_name} in {error.grpc_status}"
    message = message_type()
    found[0].Unpack(message)
    return message


async def _listed(client: Client, page_size: int = 0, include_deleted: bool = False) -> list[str]:
    """Every namespace name ListNamespaces shows, following its pages."""
    names: list[str] = []
    token = b""
    for _ in range(1000):
        page = await client.workflow_service.list_namespaces(
            wsr.ListNamespacesRequest(
                page_size=page_size,
                next_page_token=token,
                namespace_filter=namespace_pb.NamespaceFilter(include_deleted=include_deleted),
            )
        )
        names.extend(entry.namespace_info.name for entry in page.namespaces)
        token = page.next_page_token
        if not token:
            return names
    raise AssertionError("ListNamespaces kept returning a next_page_token")


def _start_request(namespace: str, workflow_id: str) -> wsr.StartWorkflowExecutionRequest:
    return wsr.StartWorkflowExecutionRequest(
        namespace=namespace,
        workflow_id=workflow_id,
        workflow_type=common_pb.WorkflowType(name="NobodyRunsThis"),
        task_queue=taskqueue_pb.TaskQueue(name="nobody-polls"),
        request_id=str(uuid.uuid4()),
    )


def _describe_workflow(namespace: str, workflow_id: str) -> wsr.DescribeWorkflowExecutionRequest:
    return wsr.DescribeWorkflowExecutionRequest(
        namespace=namespace, execution=common_pb.WorkflowExecution(workflow_id=workflow_id)
    )


# The real frontend caches namespaces for up to ~10 s, so a state change reaches its checks that late, and
# its reclaim of a deleted namespace takes seconds; Tempyral has no such cache and reclaims after 3 s.
SETTLE_SECONDS = 30.0 if SERVER_KIND == "temporal" else 10.0


async def _eventually(check: Callable[[], Awaitable[None]]) -> None:
    await assert_eventually(check, timeout=SETTLE_SECONDS, interval=0.5)


# -- DeleteNamespace ---------------------------------------------------------------------------------------


async def test_delete_namespace_renames_it_and_frees_the_name(client: Client) -> None:
    name = _fresh_name()
    namespace_id = await _register(client, name, description="to be deleted")
    service = client.workflow_service
    # Only a running one: the real server takes half a minute more to reclaim closed workflows.
    await service.start_workflow_execution(_start_request(name, "running"))

    deleted_name = await _delete(client, namespace=name)
    assert deleted_name == f"{name}-deleted-{namespace_id[:5]}"

    # Right away, the old name is gone and the namespace is DELETED under its new name, same id.
    missing = await _fails(
        _describe(client, name), RPCStatusCode.NOT_FOUND, f"Namespace {name} is not found."
    )
    assert _detail(missing, errordetails_pb.NamespaceNotFoundFailure).namespace == name
    renamed = await _describe(client, deleted_name)
    assert renamed.namespace_info.state == NamespaceState.NAMESPACE_STATE_DELETED
    assert (renamed.namespace_info.id, renamed.namespace_info.description) == (namespace_id, "to be deleted")
    assert deleted_name in await _listed(client, include_deleted=True)
    assert deleted_name not in await _listed(client)
    # Deleting it again (under its new name) answers the same name.
    assert await _delete(client, namespace=deleted_name) == deleted_name

    # Nothing but describing works in a deleted namespace.
    invalid = await _fails(
        service.describe_workflow_execution(_describe_workflow(deleted_name, "running")),
        RPCStatusCode.FAILED_PRECONDITION,
        DELETED_INVALID_STATE,
    )
    state = _detail(invalid, errordetails_pb.NamespaceInvalidStateFailure)
    assert (state.namespace, state.state) == (deleted_name, NamespaceState.NAMESPACE_STATE_DELETED)
    assert list(state.allowed_states) == [
        NamespaceState.NAMESPACE_STATE_REGISTERED,
        NamespaceState.NAMESPACE_STATE_DEPRECATED,
    ]
    await _fails(
        client.operator_service.list_search_attributes(
            osr.ListSearchAttributesRequest(namespace=deleted_name)
        ),
        RPCStatusCode.FAILED_PRECONDITION,
        DELETED_INVALID_STATE,
    )

    # The name is free again at once: a new namespace, with a new id.
    new_id = await _register(client, name)
    assert new_id != namespace_id

    # The deleted namespace's workflows, then its record, are removed in the background.
    async def reclaimed() -> None:
        error = await _error_of(_describe(client, deleted_name))
        assert error.status == RPCStatusCode.NOT_FOUND

    await _eventually(reclaimed)
    assert deleted_name not in await _listed(client, include_deleted=True)
    await _delete(client, namespace=name)


async def test_delete_namespace_by_id(client: Client) -> None:
    name = _fresh_name()
    namespace_id = await _register(client, name)
    assert await _delete(client, namespace_id=namespace_id) == f"{name}-deleted-{namespace_id[:5]}"


async def test_delete_namespace_errors(client: Client) -> None:
    missing = _fresh_name()
    error = await _fails(
        _delete(client, namespace=missing), RPCStatusCode.NOT_FOUND, f"Namespace {missing} is not found."
    )
    assert _detail(error, errordetails_pb.NamespaceNotFoundFailure).namespace == missing
    missing_id = str(uuid.uuid4())
    await _fails(
        _delete(client, namespace_id=missing_id),
        RPCStatusCode.NOT_FOUND,
        f"Namespace {missing_id} is not found.",
    )
    await _fails(
        _delete(client, namespace="default", namespace_id=missing_id),
        RPCStatusCode.INVALID_ARGUMENT,
        "Only one of namespace name or Id should be set on request.",
    )
    await _fails(_delete(client), RPCStatusCode.INVALID_ARGUMENT, "Namespace not set on request.")
    await _fails(
        _delete(client, namespace="temporal-system"),
        RPCStatusCode.FAILED_PRECONDITION,
        "unable to delete system namespace",
    )


async def test_deleted_name_is_not_found_again(client: Client) -> None:
    name = _fresh_name()
    await _register(client, name)
    await _delete(client, namespace=name)

    async def not_found() -> None:
        # The real server answers INVALID_ARGUMENT for a moment, until its namespace cache refreshes.
        await _fails(
            _delete(client, namespace=name), RPCStatusCode.NOT_FOUND, f"Namespace {name} is not found."
        )

    await _eventually(not_found)
    await _fails(
        client.workflow_service.start_workflow_execution(_start_request(name, "too-late")),
        RPCStatusCode.NOT_FOUND,
        f"Namespace {name} is not found.",
    )


async def test_recreated_namespace_starts_without_search_attributes(client: Client) -> None:
    name = _fresh_name()
    await _register(client, name)
    await client.operator_service.add_search_attributes(
        osr.AddSearchAttributesRequest(namespace=name, search_attributes={"OrderId": KEYWORD})
    )
    await _delete(client, namespace=name)
    await _register(client, name)
    listed = await client.operator_service.list_search_attributes(
        osr.ListSearchAttributesRequest(namespace=name)
    )
    assert dict(listed.custom_attributes) == {}
    await _delete(client, namespace=name)


# -- RegisterNamespace ------------------------------------------------------------------------------------


async def test_register_namespace_fields(client: Client) -> None:
    name = _fresh_name()
    await _register(
        client,
        name,
        retention_seconds=HOUR,  # the shortest retention the server accepts
        description="payments",
        owner_email="owner@example.com",
        data={"team": '"pay"', "tier": "1"},
        active_cluster_name="active",
        clusters=[replication_pb.ClusterReplicationConfig(cluster_name="active")],
        # Accepted, and ignored: archival is off on a dev server.
        history_archival_state=ArchivalState.ARCHIVAL_STATE_ENABLED,
        history_archival_uri="file:///tmp/archive",
    )
    described = await _describe(client, name)
    info = described.namespace_info
    assert (info.name, info.description, info.owner_email) == (name, "payments", "owner@example.com")
    assert dict(info.data) == {"team": '"pay"', "tier": "1"}
    assert info.state == NamespaceState.NAMESPACE_STATE_REGISTERED
    config = described.config
    assert config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(hours=1)
    assert config.history_archival_state == ArchivalState.ARCHIVAL_STATE_DISABLED
    assert config.history_archival_uri == ""
    replication = described.replication_config
    assert replication.active_cluster_name == "active"
    assert [c.cluster_name for c in replication.clusters] == ["active"]
    assert replication.state == ReplicationState.REPLICATION_STATE_NORMAL
    assert not described.is_global_namespace
    await _delete(client, namespace=name)


async def test_register_namespace_errors(client: Client) -> None:
    name = _fresh_name()
    await _register(client, name)
    exists = await _fails(
        _register(client, name), RPCStatusCode.ALREADY_EXISTS, f'Namespace "{name}" already exists'
    )
    _detail(exists, errordetails_pb.NamespaceAlreadyExistsFailure)
    invalid = RPCStatusCode.INVALID_ARGUMENT
    await _fails(
        _register(client, _fresh_name(), HOUR - 1), invalid, "A valid retention period is not set on request."
    )
    await _fails(
        _register(client, _fresh_name(), is_global_namespace=True),
        invalid,
        "Cannot register global namespace when not enabled",
    )
    await _fails(
        _register(client, _fresh_name(), active_cluster_name="other"), invalid, "Invalid cluster name: other"
    )
    await _fails(_register(client, ""), invalid, "Namespace not set on request.")
    await _delete(client, namespace=name)


async def test_system_namespace_is_listed_and_described(client: Client) -> None:
    described = await _describe(client, "temporal-system")
    assert described.namespace_info.description == "Temporal internal system namespace"
    assert described.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(days=7)
    assert {"default", "temporal-system"} <= set(await _listed(client))


# -- UpdateNamespace --------------------------------------------------------------------------------------


async def test_update_namespace_fields(client: Client) -> None:
    name = _fresh_name()
    await _register(client, name, description="first", owner_email="a@example.com", data={"a": "1", "b": "2"})
    updated = await _update(
        client,
        name,
        update_info=namespace_pb.UpdateNamespaceInfo(description="second", data={"b": "", "c": "3"}),
        config=namespace_pb.NamespaceConfig(
            workflow_execution_retention_ttl=duration_pb2.Duration(seconds=HOUR)
        ),
        replication_config=replication_pb.NamespaceReplicationConfig(active_cluster_name="active"),
    )
    assert updated.namespace_info.description == "second"
    info = (await _describe(client, name)).namespace_info
    # Empty fields change nothing; data is merged, an empty value kept as it is.
    assert (info.description, info.owner_email) == ("second", "a@example.com")
    assert dict(info.data) == {"a": "1", "b": "", "c": "3"}
    retention = (await _describe(client, name)).config.workflow_execution_retention_ttl
    assert retention.ToTimedelta() == timedelta(hours=1)
    await _update(client, name)  # nothing to change is fine
    await _delete(client, namespace=name)


async def test_update_namespace_errors(client: Client) -> None:
    name = _fresh_name()
    await _register(client, name)
    invalid = RPCStatusCode.INVALID_ARGUMENT
    too_short = namespace_pb.NamespaceConfig(
        workflow_execution_retention_ttl=duration_pb2.Duration(seconds=0)
    )
    await _fails(
        _update(client, name, config=too_short), invalid, "A valid retention period is not set on request."
    )
    await _fails(
        _update(client, name, promote_namespace=True),
        invalid,
        f"global namespace is not enabled on this cluster, cannot update global namespace or promote local "
        f"namespace: {name}",
    )
    handover = replication_pb.NamespaceReplicationConfig(state=ReplicationState.REPLICATION_STATE_HANDOVER)
    await _fails(
        _update(client, name, replication_config=handover),
        invalid,
        "Handover can only be set for global namespace",
    )
    other_cluster = replication_pb.NamespaceReplicationConfig(active_cluster_name="other")
    await _fails(
        _update(client, name, replication_config=other_cluster), invalid, "Invalid cluster name: other"
    )
    await _fails(_update(client, ""), invalid, "Namespace not set on request.")
    missing = _fresh_name()
    await _fails(_update(client, missing), RPCStatusCode.NOT_FOUND, f"Namespace {missing} is not found.")
    await _delete(client, namespace=name)


def _state_change(state: NamespaceState.ValueType) -> namespace_pb.UpdateNamespaceInfo:
    return namespace_pb.UpdateNamespaceInfo(state=state)


async def test_update_namespace_state_moves_only_forward(client: Client) -> None:
    name = _fresh_name()
    namespace_id = await _register(client, name)
    deprecated = NamespaceState.NAMESPACE_STATE_DEPRECATED
    await _update(client, name, update_info=_state_change(deprecated))
    assert (await _describe(client, name)).namespace_info.state == deprecated
    await _fails(
        _update(client, name, update_info=_state_change(NamespaceState.NAMESPACE_STATE_REGISTERED)),
        RPCStatusCode.INVALID_ARGUMENT,
        "Invalid namespace state update.",
    )
    # A deprecated namespace still lists its workflows.
    await client.workflow_service.list_workflow_executions(wsr.ListWorkflowExecutionsRequest(namespace=name))

    await _update(client, name, update_info=_state_change(NamespaceState.NAMESPACE_STATE_DELETED))
    # Marked DELETED by an update, the namespace keeps its name; only DeleteNamespace renames.
    assert (await _describe(client, name)).namespace_info.state == NamespaceState.NAMESPACE_STATE_DELETED
    assert name not in await _listed(client)
    assert name in await _listed(client, include_deleted=True)

    async def refused() -> None:
        update = _update(client, name, update_info=namespace_pb.UpdateNamespaceInfo(description="x"))
        await _fails(update, RPCStatusCode.FAILED_PRECONDITION, DELETED_INVALID_STATE)

    await _eventually(refused)
    assert await _delete(client, namespace=name) == f"{name}-deleted-{namespace_id[:5]}"


async def test_deprecated_namespace_refuses_new_workflows(client: Client) -> None:
    name = _fresh_name()
    await _register(client, name)
    await _update(client, name, update_info=_state_change(NamespaceState.NAMESPACE_STATE_DEPRECATED))

    async def refused() -> None:
        error = await _fails(
            client.workflow_service.start_workflow_execution(_start_request(name, "new")),
            RPCStatusCode.FAILED_PRECONDITION,
            "Namespace has invalid state: Deprecated. Must be Registered.",
        )
        state = _detail(error, errordetails_pb.NamespaceInvalidStateFailure)
        assert list(state.allowed_states) == [NamespaceState.NAMESPACE_STATE_REGISTERED]

    await _eventually(refused)
    await _delete(client, namespace=name)


# -- ListNamespaces ---------------------------------------------------------------------------------------


async def test_list_namespaces_pages(client: Client) -> None:
    names = [_fresh_name() for _ in range(3)]
    for name in names:
        await _register(client, name)
    everything = await _listed(client)
    assert set(names) <= set(everything)
    assert len(everything) == len(set(everything))
    # Any page size walks the same namespaces in the same (id) order. Only namespaces this test knows are
    # compared: one deleted by an earlier test may vanish meanwhile.
    known = {*names, "default", "temporal-system"}
    in_order = [name for name in everything if name in known]
    for page_size in (1, 2):
        paged = await _listed(client, page_size=page_size)
        assert len(paged) == len(set(paged))
        assert [name for name in paged if name in known] == in_order

    first = await client.workflow_service.list_namespaces(wsr.ListNamespacesRequest(page_size=1))
    # At most one: deleted namespaces are filtered out after the page is cut (an earlier test may have
    # deleted the first one by id).
    assert len(first.namespaces) <= 1
    assert first.next_page_token  # a full page always has a next page, even an empty one
    for name in names:
        await _delete(client, namespace=name)


# -- search attributes ------------------------------------------------------------------------------------


async def test_search_attribute_admin_edge_cases(client: Client) -> None:
    name = _fresh_name()
    await _register(client, name)
    operator = client.operator_service

    async def add(attributes: dict[str, IndexedValueType.ValueType]) -> None:
        await operator.add_search_attributes(
            osr.AddSearchAttributesRequest(namespace=name, search_attributes=attributes)
        )

    async def remove(*attributes: str) -> None:
        await operator.remove_search_attributes(
            osr.RemoveSearchAttributesRequest(namespace=name, search_attributes=attributes)
        )

    async def custom() -> dict[str, int]:
        listed = await operator.list_search_attributes(osr.ListSearchAttributesRequest(namespace=name))
        return dict(listed.custom_attributes)

    await add({"OrderId": KEYWORD})
    # Registering a name again, even with another type, changes nothing and is no error.
    await add({"OrderId": IndexedValueType.INDEXED_VALUE_TYPE_INT})
    assert await custom() == {"OrderId": KEYWORD}
    # Removing what is not registered is no error either.
    await remove("NeverRegistered")
    invalid = RPCStatusCode.INVALID_ARGUMENT
    await _fails(
        remove("WorkflowId", "OrderId"), invalid, "Unable to remove non-custom search attributes: WorkflowId."
    )
    assert await custom() == {"OrderId": KEYWORD}
    await _fails(
        add({"TemporalAnything": KEYWORD}),
        invalid,
        "Search attribute TemporalAnything is reserved by system.",
    )
    await _fails(add({}), invalid, "SearchAttributes are not set on request.")
    await _fails(remove(), invalid, "SearchAttributes are not set on request.")
    await _fails(
        add({"Untyped": IndexedValueType.INDEXED_VALUE_TYPE_UNSPECIFIED}),
        invalid,
        "Unable to create search attributes: cannot have more than 0 search attribute of type Unspecified.",
    )
    text = IndexedValueType.INDEXED_VALUE_TYPE_TEXT
    await _fails(
        add({f"Note{i}": text for i in range(4)}),
        invalid,
        "Unable to create search attributes: cannot have more than 3 search attribute of type Text.",
    )
    assert await custom() == {"OrderId": KEYWORD}  # all or nothing
    await _fails(
        operator.list_search_attributes(osr.ListSearchAttributesRequest()),
        invalid,
        "Namespace is not set on request.",
    )
    await remove("OrderId")
    assert await custom() == {}
    await _delete(client, namespace=name)


# -- Tempyral's own storage -------------------------------------------------------------------------------


@pytest.mark.skipif(SERVER_KIND != "tempyral", reason="reads Tempyral's database file")
async def test_deletion_removes_every_row_and_survives_a_crash(tmp_path: Path) -> None:
    """A namespace deleted just before a SIGKILL is still reclaimed, after the restart."""
    db = tmp_path / "ns.db"
    server = ServerProcess(db_filename=str(db)).start()
    try:
        client = await Client.connect(server.address)
        name = _fresh_name()
        namespace_id = await _register(client, name)
        run_ids = [
            (await client.workflow_service.start_workflow_execution(_start_request(name, workflow_id))).run_id
            for workflow_id in ("a", "b", "c")
        ]
        await client.workflow_service.terminate_workflow_execution(
            wsr.TerminateWorkflowExecutionRequest(
                namespace=name, workflow_execution=common_pb.WorkflowExecution(workflow_id="c")
            )
        )
        await client.operator_service.add_search_attributes(
            osr.AddSearchAttributesRequest(namespace=name, search_attributes={"OrderId": KEYWORD})
        )
        deleted_name = await _delete(client, namespace=name)
        server.kill()
        # Killed before the reclaim began: the namespace and its runs are still stored.
        assert _rows_of(db, namespace_id, run_ids) > len(run_ids)
        server.restart()
        client = await Client.connect(server.address)

        async def reclaimed() -> None:
            await _error_of(_describe(client, deleted_name))

        await _eventually(reclaimed)
    finally:
        server.stop()
    assert _rows_of(db, namespace_id, run_ids) == 0


def _rows_of(db: Path, namespace_id: str, run_ids: list[str]) -> int:
    """How many rows anywhere in the database still belong to the namespace or its runs."""
    queries = [
        (f"SELECT COUNT(*) FROM {table} WHERE namespace_id=?", namespace_id)
        for table in ("executions", "current_executions", "tasks", "visibility")
    ]
    queries.append(("SELECT COUNT(*) FROM namespaces WHERE id=?", namespace_id))
    queries += [("SELECT COUNT(*) FROM history_events WHERE run_id=?", run_id) for run_id in run_ids]
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return sum(int(connection.execute(sql, (value,)).fetchone()[0]) for sql, value in queries)
    finally:
        connection.close()


async def test_overlong_namespace_name_is_refused_before_lookup(client: Client) -> None:
    name = "n" * 1001
    await _fails(
        client.workflow_service.start_workflow_execution(_start_request(name, "too-long")),
        RPCStatusCode.INVALID_ARGUMENT,
        "Namespace length exceeds limit.",
    )
