"""OperatorService: custom search attributes (Add/Remove/ListSearchAttributes), per namespace."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import request_response_pb2 as osr

from tempyral.errors import InvalidArgument, NotFound, ServiceError
from tempyral.frontend.context import FrontendDeps, GrpcContext
from tempyral.frontend.grpc_server import Handler
from tempyral.persistence.sqlite.store import SqliteStore
from tempyral.search_attributes import SYSTEM_ATTRIBUTES


class AlreadyExists(ServiceError):
    code = "ALREADY_EXISTS"


class OperatorService:
    def __init__(self, deps: FrontendDeps, store: SqliteStore) -> None:
        self.deps = deps
        self.store = store

    def methods(self) -> dict[str, Handler]:
        return {
            "AddSearchAttributes": self.AddSearchAttributes,
            "RemoveSearchAttributes": self.RemoveSearchAttributes,
            "ListSearchAttributes": self.ListSearchAttributes,
        }

    async def load(self) -> None:
        """Bring back what earlier runs of the server registered."""
        for namespace, name, value_type in await self.store.list_search_attributes():
            self.deps.search_attributes.by_namespace.setdefault(namespace, {})[name] = value_type

    async def AddSearchAttributes(
        self, request: osr.AddSearchAttributesRequest, context: GrpcContext
    ) -> osr.AddSearchAttributesResponse:
        namespace = self.deps.namespaces.get(request.namespace).name
        registered = self.deps.search_attributes.custom_of(namespace)
        for name, value_type in request.search_attributes.items():
            if name in SYSTEM_ATTRIBUTES:
                raise InvalidArgument(f"Search attribute {name} is reserved by system.")
            if value_type == IndexedValueType.INDEXED_VALUE_TYPE_UNSPECIFIED:
                raise InvalidArgument(f"Unknown search attribute type: {value_type}.")
            if name in registered and registered[name] != value_type:
                raise AlreadyExists(f"Search attribute {name} already exists with a different type.")
        for name, value_type in request.search_attributes.items():
            await self.store.save_search_attribute(namespace, name, value_type)
            self.deps.search_attributes.by_namespace.setdefault(namespace, {})[name] = value_type
        return osr.AddSearchAttributesResponse()

    async def RemoveSearchAttributes(
        self, request: osr.RemoveSearchAttributesRequest, context: GrpcContext
    ) -> osr.RemoveSearchAttributesResponse:
        namespace = self.deps.namespaces.get(request.namespace).name
        mine = self.deps.search_attributes.by_namespace.get(namespace, {})
        for name in request.search_attributes:
            if name not in mine:
                raise NotFound(f"Search attribute {name} doesn't exist.")
        for name in request.search_attributes:
            await self.store.save_search_attribute(namespace, name, None)
            del mine[name]
        return osr.RemoveSearchAttributesResponse()

    async def ListSearchAttributes(
        self, request: osr.ListSearchAttributesRequest, context: GrpcContext
    ) -> osr.ListSearchAttributesResponse:
        namespace = self.deps.namespaces.get(request.namespace).name
        return osr.ListSearchAttributesResponse(
            custom_attributes=self.deps.search_attributes.custom_of(namespace),  # type: ignore[arg-type]
            system_attributes=SYSTEM_ATTRIBUTES,  # type: ignore[arg-type]
            storage_schema={},
        )
