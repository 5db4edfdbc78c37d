"""Wires config -> store -> engine -> gRPC server, and owns start-up and shutdown order."""

from __future__ import annotations

import asyncio
import logging
import signal

import grpc

from tempyral.clock import Clock
from tempyral.config import ServerConfig
from tempyral.frontend.batch_service import BatchService
from tempyral.frontend.context import FrontendDeps
from tempyral.frontend.grpc_server import new_server, operator_service_handler, workflow_service_handler
from tempyral.frontend.namespace_service import NamespaceService
from tempyral.frontend.operator_service import OperatorService
from tempyral.frontend.worker_service import WorkerService
from tempyral.frontend.workflow_service import WorkflowService
from tempyral.history.engine import HistoryEngine
from tempyral.history.ops.timers import fire_timer_task
from tempyral.matching.engine import MatchingEngine
from tempyral.namespaces import NamespaceRegistry
from tempyral.persistence.sqlite.store import SqliteStore
from tempyral.search_attributes import SearchAttributeRegistry

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "default"


class TempyralServer:
    def __init__(self, config: ServerConfig, sqlite_pragmas: list[str] | None = None) -> None:
        self.config = config
        self.clock = Clock()
        self.store = SqliteStore(config.db_filename, sqlite_pragmas or [])
        self.matching = MatchingEngine(self.clock.now)
        self.engine = HistoryEngine(self.store, self.matching, self.clock, config.dynamic)
        self.engine.set_timer_handler(fire_timer_task)
        self.namespaces = NamespaceRegistry(self.store)
        self.engine.namespaces = self.namespaces
        self._grpc: grpc.aio.Server | None = None

    async def start(self) -> None:
        await self.store.open()
        await self.namespaces.load()
        for name in [DEFAULT_NAMESPACE, *self.config.namespaces]:
            await self.namespaces.ensure(name)
        await self.engine.start()
        deps = FrontendDeps(
            self.engine,
            self.namespaces,
            self.config.dynamic,
            SearchAttributeRegistry.from_flags(self.config.search_attributes),
        )
        self.engine.search_attributes = deps.search_attributes
        methods = {
            **NamespaceService(deps).methods(),
            **WorkflowService(deps).methods(),
            **WorkerService(deps).methods(),
            **BatchService(deps).methods(),
        }
        operator = OperatorService(deps, self.store)
        await operator.load()
        self._grpc = new_server()
        self._grpc.add_generic_rpc_handlers(
            (workflow_service_handler(methods), operator_service_handler(operator.methods()))
        )
        self._grpc.add_insecure_port(self.config.address)
        await self._grpc.start()
        log.warning(
            "Tempyral server listening on %s (database: %s)",
            self.config.address,
            self.config.db_filename or "in memory",
        )

    async def stop(self) -> None:
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0)
        await self.engine.stop()
        await self.store.close()


async def serve(config: ServerConfig, sqlite_pragmas: list[str] | None = None) -> None:
    """Run until SIGINT or SIGTERM, then shut down cleanly."""
    server = TempyralServer(config, sqlite_pragmas)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.warning("shutting down")
    await server.stop()
