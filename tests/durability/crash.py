"""SIGKILL a server and bring it back on the same port and file, recording when it was down.

The kill and restart times, on the test process's monotonic clock, are what excuse an activity running
twice: at-least-once delivery allows a re-run only of an attempt that was in flight when the server died.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from temporalio.service import RPCError, RPCStatusCode

from tempyral.testing.servers import ServerProcess


def is_outage_error(error: RPCError) -> bool:
    """Whether a call failed because the server was down or died under it, rather than answering an error.
    A call in flight at the kill ends as UNKNOWN "transport error" in the SDK's client."""
    if error.status == RPCStatusCode.UNKNOWN:
        return "transport error" in error.message
    return error.status in (
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.CANCELLED,
    )


@dataclass
class Outage:
    killed: float
    restarted: float
    ready: float


@dataclass
class Crasher:
    """Kills and restarts one server, keeping every outage on record."""

    server: ServerProcess
    outages: list[Outage] = field(default_factory=list)

    async def kill(self) -> float:
        """SIGKILL now; returns the kill time. Blocking waits run in a thread so the in-process worker and the
        test's own clients keep running meanwhile."""
        killed = time.monotonic()
        await asyncio.to_thread(self.server.kill)
        self.outages.append(Outage(killed=killed, restarted=float("inf"), ready=float("inf")))
        return killed

    async def restart(self) -> None:
        self.outages[-1].restarted = time.monotonic()
        await asyncio.to_thread(self.server.restart)
        self.outages[-1].ready = time.monotonic()

    async def crash(self, downtime: float) -> None:
        await self.kill()
        await asyncio.sleep(downtime)  # the outage itself is what is being tested, not a wait for a condition
        await self.restart()

    def in_flight_at_kill(self, started: float, reported: float) -> bool:
        """Whether a kill may have lost the outcome of an execution that began at `started` and whose report
        the server answered at `reported`: the kill came before the answer, and the execution began before the
        restart. It can begin after the kill because the worker's event loop may lag behind the poll that
        delivered its task; nothing can deliver a task between the kill and the restart."""
        return any(started <= outage.restarted and reported >= outage.killed for outage in self.outages)

    def killed_between(self, start: float, end: float) -> bool:
        return any(start <= outage.killed <= end for outage in self.outages)
