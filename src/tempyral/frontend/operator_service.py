"""OperatorService: custom search attributes (Add/Remove/ListSearchAttributes) and DeleteNamespace."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import request_response_pb2 as osr

from tempyral.errors import FailedPrecondition, InvalidArgument, NotFound
from tempyral.frontend.context import FrontendDeps, GrpcContext
from tempyral.frontend.grpc_server import Handler
from tempyral.history.ops.cancel_terminate import terminate_workflow
from tempyral.namespaces import ANY_STATE, SYSTEM_NAMESPACE_ID, Namespace
from tempyral.persistence.sqlite.store import SqliteStore
from tempyral.search_attributes import SYSTEM_ATTRIBUTES

log = logging.getLogger(__name__)

T = IndexedValueType
# How many custom attributes of each type a namespace may have: the real dev server's SQL visibility has
# this many columns per type.
MAX_CUSTOM_PER_TYPE: dict[int, int] = {
    T.INDEXED_VALUE_TYPE_TEXT: 3,
    T.INDEXED_VALUE_TYPE_KEYWORD: 10,
    T.INDEXED_VALUE_TYPE_INT: 3,
    T.INDEXED_VALUE_TYPE_DOUBLE: 3,
    T.INDEXED_VALUE_TYPE_BOOL: 3,
    T.INDEXED_VALUE_TYPE_DATETIME: 3,
    T.INDEXED_VALUE_TYPE_KEYWORD_LIST: 3,
}
_TYPE_NAMES: dict[int, str] = {
    T.INDEXED_VALUE_TYPE_UNSPECIFIED: "Unspecified",
    T.INDEXED_VALUE_TYPE_TEXT: "Text",
    T.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
    T.INDEXED_VALUE_TYPE_INT: "Int",
    T.INDEXED_VALUE_TYPE_DOUBLE: "Double",
    T.INDEXED_VALUE_TYPE_BOOL: "Bool",
    T.INDEXED_VALUE_TYPE_DATETIME: "Datetime",
    T.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList",
}
# Names starting with this are the server's own, registered or not.
RESERVED_PREFIX = "Temporal"
# Reclaiming a deleted namespace: runs deleted concurrently per batch (one group commit), and how often
# to look again for runs started meanwhile (child starts already in flight).
RECLAIM_BATCH = 64
RECLAIM_ROUNDS = 5
# The real server's reclaim workflow takes a few seconds; meanwhile the namespace stays describable (and
# listed with include_deleted) as DELETED under its new name. Keep that window observable here too.
RECLAIM_DELAY_SECONDS = 3.0


class OperatorService:
    def __init__(self, deps: FrontendDeps, store: SqliteStore) -> None:
        self.deps = deps
        self.store = store
        # Deleted namespaces whose workflows are being removed, by namespace id.
        self._reclaiming: dict[str, asyncio.Task[None]] = {}

    def methods(self) -> dict[str, Handler]:
        return {
            "AddSearchAttributes": self.AddSearchAttributes,
            "RemoveSearchAttributes": self.RemoveSearchAttributes,
            "ListSearchAttributes": self.ListSearchAttributes,
            "DeleteNamespace": self.DeleteNamespace,
        }

    async def load(self) -> None:
        """Bring back what earlier runs of the server registered, and finish interrupted deletions."""
        for namespace, name, value_type in await self.store.list_search_attributes():
            self.deps.search_attributes.by_namespace.setdefault(namespace, {})[name] = value_type
        for deleted in self.deps.namespaces.awaiting_reclaim():
            self._reclaim_soon(deleted)

    # -- search attributes -----------------------------------------------------------------------------

    async def AddSearchAttributes(
        self, request: osr.AddSearchAttributesRequest, context: GrpcContext
    ) -> osr.AddSearchAttributesResponse:
        namespace = self._namespace_of(request.namespace)
        if not request.search_attributes:
            raise InvalidArgument("SearchAttributes are not set on request.")
        for name, value_type in request.search_attributes.items():
            _check_addable(name, value_type)
        registered = self.deps.search_attributes.custom_of(namespace)
        # A name already registered is left as it is, whatever type the request gives it.
        added = {n: t for n, t in request.search_attributes.items() if n not in registered}
        _check_room(registered.values(), added.values())
        for name, value_type in added.items():
            await self.store.save_search_attribute(namespace, name, value_type)
            self.deps.search_attributes.by_namespace.setdefault(namespace, {})[name] = value_type
        return osr.AddSearchAttributesResponse()

    async def RemoveSearchAttributes(
        self, request: osr.RemoveSearchAttributesRequest, context: GrpcContext
    ) -> osr.RemoveSearchAttributesResponse:
        namespace = self._namespace_of(request.namespace)
        if not request.search_attributes:
            raise InvalidArgument("SearchAttributes are not set on request.")
        for name in request.search_attributes:
            if name in SYSTEM_ATTRIBUTES:
                raise InvalidArgument(f"Unable to remove non-custom search attributes: {name}.")
        mine = self.deps.search_attributes.by_namespace.get(namespace, {})
        # Names that are not registered are skipped without complaint, as the real server does.
        for name in request.search_attributes:
            if name in mine:
                await self.store.save_search_attribute(namespace, name, None)
                del mine[name]
        return osr.RemoveSearchAttributesResponse()

    async def ListSearchAttributes(
        self, request: osr.ListSearchAttributesRequest, context: GrpcContext
    ) -> osr.ListSearchAttributesResponse:
        namespace = self._namespace_of(request.namespace)
        return osr.ListSearchAttributesResponse(
            custom_attributes=self.deps.search_attributes.custom_of(namespace),  # type: ignore[arg-type]
            system_attributes=SYSTEM_ATTRIBUTES,  # type: ignore[arg-type]
            storage_schema={},
        )

    def _namespace_of(self, name: str) -> str:
        if not name:
            raise InvalidArgument("Namespace is not set on request.")
        return self.deps.namespaces.get(name).name

    # -- namespaces ------------------------------------------------------------------------------------

    async def DeleteNamespace(
        self, request: osr.DeleteNamespaceRequest, context: GrpcContext
    ) -> osr.DeleteNamespaceResponse:
        """Rename the namespace to `<name>-deleted-<id prefix>` and mark it DELETED at once (its name is
        free again); its workflows, then its record, are removed in the background."""
        namespace = self._namespace_to_delete(request)
        if namespace.id == SYSTEM_NAMESPACE_ID:
            raise FailedPrecondition("unable to delete system namespace")
        old_name = namespace.name
        deleted = await self.deps.namespaces.mark_deleted(namespace)
        self.deps.search_attributes.by_namespace.pop(old_name, None)
        self._reclaim_soon(deleted)
        return osr.DeleteNamespaceResponse(deleted_namespace=deleted.name)

    def _namespace_to_delete(self, request: osr.DeleteNamespaceRequest) -> Namespace:
        if request.namespace and request.namespace_id:
            raise InvalidArgument("Only one of namespace name or Id should be set on request.")
        if request.namespace_id:
            return self.deps.namespaces.by_id(request.namespace_id)
        if not request.namespace:
            raise InvalidArgument("Namespace not set on request.")
        return self.deps.namespaces.get(request.namespace, ANY_STATE)

    def _reclaim_soon(self, namespace: Namespace) -> None:
        if namespace.id not in self._reclaiming:
            task = asyncio.create_task(self._reclaim(namespace), name=f"reclaim {namespace.name}")
            self._reclaiming[namespace.id] = task

    async def _reclaim(self, namespace: Namespace) -> None:
        """Delete every run of a deleted namespace, then its record. A failure leaves the namespace DELETED
        and renamed; the next start of the server tries again."""
        try:
            await asyncio.sleep(RECLAIM_DELAY_SECONDS)
            for _ in range(RECLAIM_ROUNDS):
                runs = await self.store.namespace_runs(namespace.id)
                if not runs:
                    await self.deps.namespaces.forget(namespace)
                    return
                for first in range(0, len(runs), RECLAIM_BATCH):
                    batch = runs[first : first + RECLAIM_BATCH]
                    await asyncio.gather(*(self._delete_run(namespace.id, *run) for run in batch))
            log.warning("namespace %s still has runs; deletion resumes at next start", namespace.name)
        except Exception:
            log.exception("deleting namespace %s failed; it resumes at next start", namespace.name)
        finally:
            del self._reclaiming[namespace.id]

    async def _delete_run(self, namespace_id: str, workflow_id: str, run_id: str) -> None:
        """As DeleteWorkflowExecution does it: a running run is terminated first (its parent and children,
        possibly in other namespaces, hear of it), then all of it is deleted."""
        engine = self.deps.engine
        with contextlib.suppress(NotFound):  # closed or deleted meanwhile
            if (await engine.load(namespace_id, workflow_id, run_id)).state.running:
                with contextlib.suppress(NotFound):
                    await terminate_workflow(
                        engine, namespace_id, workflow_id, run_id, "Delete workflow execution", None, ""
                    )
            await engine.delete_execution(namespace_id, workflow_id, run_id)


def _check_addable(name: str, value_type: int) -> None:
    if name in SYSTEM_ATTRIBUTES or name.startswith(RESERVED_PREFIX):
        raise InvalidArgument(f"Search attribute {name} is reserved by system.")
    if value_type not in _TYPE_NAMES:
        raise InvalidArgument(f"Unknown search attribute type: {value_type}.")


def _check_room(registered: Iterable[int], added: Iterable[int]) -> None:
    """Each type has a fixed number of slots per namespace (none for UNSPECIFIED)."""
    counts = {value_type: 0 for value_type in added}
    for value_type in [*registered, *added]:
        if value_type in counts:
            counts[value_type] += 1
    for value_type, count in counts.items():
        limit = MAX_CUSTOM_PER_TYPE.get(value_type, 0)
        if count > limit:
            raise InvalidArgument(
                "Unable to create search attributes: cannot have more than "
                f"{limit} search attribute of type {_TYPE_NAMES[value_type]}."
            )
