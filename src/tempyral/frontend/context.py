"""What every frontend service needs: the engine, matching, namespaces and limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

from tempyral.config import DynamicConfig
from tempyral.history.engine import HistoryEngine
from tempyral.namespaces import NamespaceRegistry

GrpcContext = grpc.aio.ServicerContext[Any, Any]


@dataclass
class FrontendDeps:
    engine: HistoryEngine
    namespaces: NamespaceRegistry
    dynamic: DynamicConfig

    def wait_budget(self, context: GrpcContext, cap: float) -> float:
        """How long a long poll may wait: `cap`, but answering a little before the caller's deadline."""
        remaining = context.time_remaining()
        if remaining is None:
            return cap
        return max(0.0, min(cap, remaining - 1.0))
