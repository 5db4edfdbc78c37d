"""What every frontend service needs: the engine, matching, namespaces and limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc

from tempyral.config import DynamicConfig
from tempyral.history.engine import HistoryEngine
from tempyral.history.ops.query import QueryRegistry
from tempyral.namespaces import NamespaceRegistry
from tempyral.search_attributes import SearchAttributeRegistry

GrpcContext = grpc.aio.ServicerContext[Any, Any]


@dataclass
class FrontendDeps:
    engine: HistoryEngine
    namespaces: NamespaceRegistry
    dynamic: DynamicConfig
    search_attributes: SearchAttributeRegistry = field(default_factory=SearchAttributeRegistry)
    queries: QueryRegistry = field(default_factory=QueryRegistry)

    def wait_budget(self, context: GrpcContext, cap: float, without_deadline: float | None = None) -> float:
        """How long a long poll may wait: up to `cap`, answering a second before the caller's deadline
        (`without_deadline`, default `cap`, when the call has none)."""
        remaining = context.time_remaining()
        if remaining is None:
            return cap if without_deadline is None else without_deadline
        return max(0.0, min(cap, remaining - 1.0))
