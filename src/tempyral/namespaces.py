"""Namespaces: registered, described, listed and updated; kept in memory and persisted in the store."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from temporalio.api.enums.v1 import ArchivalState, NamespaceState
from temporalio.api.namespace.v1 import message_pb2 as namespace_pb
from temporalio.api.replication.v1 import message_pb2 as replication_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.durations import to_duration
from tempyral.errors import InvalidArgument, NamespaceAlreadyExists, NamespaceNotFound
from tempyral.persistence.records import NamespaceRow
from tempyral.persistence.sqlite.store import SqliteStore

CLUSTER_NAME = "active"
DEFAULT_RETENTION_SECONDS = 24 * 3600.0


@dataclass
class Namespace:
    """A namespace as DescribeNamespace shows it; `record` is what is stored."""

    record: wsr.DescribeNamespaceResponse

    @property
    def id(self) -> str:
        return self.record.namespace_info.id

    @property
    def name(self) -> str:
        return self.record.namespace_info.name


def new_namespace_record(
    name: str,
    description: str = "",
    owner_email: str = "",
    retention_seconds: float = DEFAULT_RETENTION_SECONDS,
) -> wsr.DescribeNamespaceResponse:
    record = wsr.DescribeNamespaceResponse(
        namespace_info=namespace_pb.NamespaceInfo(
            name=name,
            state=NamespaceState.NAMESPACE_STATE_REGISTERED,
            description=description,
            owner_email=owner_email,
            id=str(uuid.uuid4()),
        ),
        config=namespace_pb.NamespaceConfig(
            workflow_execution_retention_ttl=to_duration(retention_seconds),
            history_archival_state=ArchivalState.ARCHIVAL_STATE_DISABLED,
            visibility_archival_state=ArchivalState.ARCHIVAL_STATE_DISABLED,
        ),
        replication_config=replication_pb.NamespaceReplicationConfig(
            active_cluster_name=CLUSTER_NAME,
            clusters=[replication_pb.ClusterReplicationConfig(cluster_name=CLUSTER_NAME)],
        ),
        is_global_namespace=False,
    )
    return record


class NamespaceRegistry:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._by_name: dict[str, Namespace] = {}
        self._by_id: dict[str, Namespace] = {}

    async def load(self) -> None:
        for row in await self._store.list_namespaces():
            self._remember(Namespace(wsr.DescribeNamespaceResponse.FromString(row.data)))

    def _remember(self, namespace: Namespace) -> None:
        self._by_name[namespace.name] = namespace
        self._by_id[namespace.id] = namespace

    async def ensure(self, name: str) -> Namespace:
        """The namespace called `name`, registering it with defaults if it does not exist."""
        found = self._by_name.get(name)
        if found is not None:
            return found
        return await self.register(new_namespace_record(name))

    async def register(self, record: wsr.DescribeNamespaceResponse) -> Namespace:
        name = record.namespace_info.name
        if not name:
            raise InvalidArgument("Namespace is not set on request.")
        if name in self._by_name:
            raise NamespaceAlreadyExists()
        namespace = Namespace(record)
        await self.save(namespace)
        return namespace

    async def save(self, namespace: Namespace) -> None:
        await self._store.save_namespace(
            NamespaceRow(namespace.id, namespace.name, namespace.record.SerializeToString())
        )
        self._remember(namespace)

    def get(self, name: str) -> Namespace:
        if not name:
            raise InvalidArgument("Namespace is empty.")
        found = self._by_name.get(name)
        if found is None:
            raise NamespaceNotFound(name)
        return found

    def by_id(self, namespace_id: str) -> Namespace:
        found = self._by_id.get(namespace_id)
        if found is None:
            raise NamespaceNotFound(namespace_id)
        return found

    def all(self) -> list[Namespace]:
        return sorted(self._by_name.values(), key=lambda ns: ns.name)
