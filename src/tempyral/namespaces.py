"""Namespaces: registered, described, listed, updated and deleted; kept in memory and in the store."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from temporalio.api.enums.v1 import ArchivalState, NamespaceState
from temporalio.api.errordetails.v1 import message_pb2 as details
from temporalio.api.namespace.v1 import message_pb2 as namespace_pb
from temporalio.api.replication.v1 import message_pb2 as replication_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.durations import to_duration
from tempyral.errors import FailedPrecondition, InvalidArgument, NamespaceAlreadyExists, NamespaceNotFound
from tempyral.persistence.records import NamespaceRow
from tempyral.persistence.sqlite.store import SqliteStore

CLUSTER_NAME = "active"
DEFAULT_RETENTION_SECONDS = 24 * 3600.0

# The namespace the real server keeps for its own workflows: listed, describable, never deletable.
SYSTEM_NAMESPACE = "temporal-system"
SYSTEM_NAMESPACE_ID = "32049b68-7872-4094-8e63-d0dd59896a83"
SYSTEM_RETENTION_SECONDS = 7 * 24 * 3600.0

State: TypeAlias = NamespaceState.ValueType
REGISTERED = NamespaceState.NAMESPACE_STATE_REGISTERED
DEPRECATED = NamespaceState.NAMESPACE_STATE_DEPRECATED
DELETED = NamespaceState.NAMESPACE_STATE_DELETED
# The states a call accepts, as the real frontend checks them: starting a workflow needs REGISTERED,
# every other call in a namespace REGISTERED or DEPRECATED; describing and deleting accept any state.
USABLE: tuple[State, ...] = (REGISTERED, DEPRECATED)
STARTABLE: tuple[State, ...] = (REGISTERED,)
ANY_STATE: tuple[State, ...] = (REGISTERED, DEPRECATED, DELETED)
_STATE_NAMES: dict[State, str] = {REGISTERED: "Registered", DEPRECATED: "Deprecated", DELETED: "Deleted"}
# UpdateNamespace may move a namespace only forward: registered -> deprecated -> deleted.
_STATE_CHANGES: dict[State, set[State]] = {
    REGISTERED: {REGISTERED, DEPRECATED, DELETED},
    DEPRECATED: {DEPRECATED, DELETED},
}

# Longer names are refused before any lookup (the real server's frontend checks limit.maxIDLength's default).
MAX_NAME_LENGTH = 1000

# ListNamespaces' page size when the request gives none.
DEFAULT_PAGE_SIZE = 100


class NamespaceInvalidState(FailedPrecondition):
    def __init__(self, namespace: str, state: State, allowed: Sequence[State]) -> None:
        must_be = " or ".join(_STATE_NAMES[s] for s in allowed)
        super().__init__(
            f"Namespace has invalid state: {_STATE_NAMES.get(state, 'Unspecified')}. Must be {must_be}.",
            details.NamespaceInvalidStateFailure(
                namespace=namespace,
                state=state,
                allowed_states=list(allowed),
            ),
        )


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

    @property
    def state(self) -> State:
        return self.record.namespace_info.state

    @property
    def deleted_name(self) -> str:
        """The name DeleteNamespace gives it, freeing its own name at once (the real server's scheme)."""
        return f"{self.name}-deleted-{self.id[:5]}"

    @property
    def awaiting_reclaim(self) -> bool:
        """Deleted by DeleteNamespace (renamed), its workflows and record not yet all gone."""
        return self.state == DELETED and self.name.endswith(f"-deleted-{self.id[:5]}")

    @property
    def page_key(self) -> bytes:
        """Where ListNamespaces orders it: by id, as 16 bytes, like the real server's paging token."""
        try:
            return uuid.UUID(self.id).bytes
        except ValueError:
            return self.id.encode()


def new_namespace_record(
    name: str,
    description: str = "",
    owner_email: str = "",
    retention_seconds: float = DEFAULT_RETENTION_SECONDS,
    namespace_id: str | None = None,
) -> wsr.DescribeNamespaceResponse:
    """A registered local namespace. Its replication state is left unset, as for the namespaces the dev
    server creates at start-up; RegisterNamespace sets it to NORMAL."""
    record = wsr.DescribeNamespaceResponse(
        namespace_info=namespace_pb.NamespaceInfo(
            name=name,
            state=REGISTERED,
            description=description,
            owner_email=owner_email,
            id=namespace_id or str(uuid.uuid4()),
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
    # Present though empty: the CLI's JSON output shows `"badBinaries": {}`.
    record.config.bad_binaries.SetInParent()
    return record


def system_namespace_record() -> wsr.DescribeNamespaceResponse:
    return new_namespace_record(
        SYSTEM_NAMESPACE,
        description="Temporal internal system namespace",
        owner_email="temporal-core@temporal.io",
        retention_seconds=SYSTEM_RETENTION_SECONDS,
        namespace_id=SYSTEM_NAMESPACE_ID,
    )


def check_state_change(namespace: Namespace, requested: State) -> None:
    """InvalidArgument unless UpdateNamespace may move `namespace` to `requested` (0: no change)."""
    if requested == NamespaceState.NAMESPACE_STATE_UNSPECIFIED:
        return
    if requested not in _STATE_CHANGES.get(namespace.state, set()):
        raise InvalidArgument("Invalid namespace state update.")


class NamespaceRegistry:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._by_name: dict[str, Namespace] = {}
        self._by_id: dict[str, Namespace] = {}

    async def load(self) -> None:
        for row in await self._store.list_namespaces():
            record = wsr.DescribeNamespaceResponse.FromString(row.data)
            record.config.bad_binaries.SetInParent()  # records stored before it was set
            self._remember(Namespace(record))
        if SYSTEM_NAMESPACE_ID not in self._by_id:
            await self.save(Namespace(system_namespace_record()))

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
            raise InvalidArgument("Namespace not set on request.")
        if name in self._by_name:
            raise NamespaceAlreadyExists(name)
        namespace = Namespace(record)
        await self.save(namespace)
        return namespace

    async def save(self, namespace: Namespace) -> None:
        await self._store.save_namespace(_row_of(namespace))
        self._remember(namespace)

    def get(self, name: str, allowed: Sequence[State] = USABLE) -> Namespace:
        """The namespace called `name`, if its state is one of `allowed` (FAILED_PRECONDITION otherwise)."""
        if not name:
            raise InvalidArgument("Namespace is empty.")
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidArgument("Namespace length exceeds limit.")
        found = self._by_name.get(name)
        if found is None:
            raise NamespaceNotFound(name)
        if found.state not in allowed:
            raise NamespaceInvalidState(name, found.state, allowed)
        return found

    def by_id(self, namespace_id: str) -> Namespace:
        found = self._by_id.get(namespace_id)
        if found is None:
            raise NamespaceNotFound(namespace_id)
        return found

    def page(self, page_size: int, token: bytes, include_deleted: bool) -> tuple[list[Namespace], bytes]:
        """One ListNamespaces page in id order, and the token of the next one.

        Like the real server, a full page always carries a token (the next page may be empty), and deleted
        namespaces are left out after the page is cut, so a page can hold fewer than `page_size`.
        """
        size = page_size if page_size > 0 else DEFAULT_PAGE_SIZE
        ordered = sorted(self._by_id.values(), key=lambda ns: ns.page_key)
        cut = [ns for ns in ordered if ns.page_key > token][:size] if token else ordered[:size]
        next_token = cut[-1].page_key if len(cut) == size else b""
        shown = [ns for ns in cut if include_deleted or ns.state != DELETED]
        return shown, next_token

    def awaiting_reclaim(self) -> list[Namespace]:
        return [ns for ns in self._by_id.values() if ns.awaiting_reclaim]

    async def mark_deleted(self, namespace: Namespace) -> Namespace:
        """Rename `namespace` out of the way and mark it DELETED, dropping its search attributes in the
        same transaction; its workflows are reclaimed afterwards (see `forget`)."""
        if namespace.awaiting_reclaim:
            return namespace
        old_name = namespace.name
        renamed = Namespace(wsr.DescribeNamespaceResponse())
        renamed.record.CopyFrom(namespace.record)
        renamed.record.namespace_info.name = namespace.deleted_name
        renamed.record.namespace_info.state = DELETED
        await self._store.mark_namespace_deleted(_row_of(renamed), old_name)
        namespace.record = renamed.record
        del self._by_name[old_name]
        self._remember(namespace)
        return namespace

    async def forget(self, namespace: Namespace) -> None:
        """Remove a deleted namespace's record for good, once its workflows are gone."""
        await self._store.delete_namespace(namespace.id)
        self._by_name.pop(namespace.name, None)
        self._by_id.pop(namespace.id, None)


def _row_of(namespace: Namespace) -> NamespaceRow:
    return NamespaceRow(namespace.id, namespace.name, namespace.record.SerializeToString())
