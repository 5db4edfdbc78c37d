"""Updates admitted to running workflows and not finished yet, held in memory with their waiting callers.

What must survive a restart is in history and mutable state (accepted and completed update ids); an
update still only admitted when the server stops is lost, and the caller's retry admits it again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage as Stage
from temporalio.api.update.v1 import message_pb2 as update_pb

ExecutionKey = tuple[str, str, str]
ADMITTED = Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
ACCEPTED = Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED
COMPLETED = Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED


@dataclass
class PendingUpdate:
    request: update_pb.Request
    stage: int = ADMITTED
    outcome: update_pb.Outcome | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def advance(self, stage: int, outcome: update_pb.Outcome | None = None) -> None:
        self.stage = stage
        self.outcome = outcome
        self.changed.set()

    async def wait_for(self, stage: int, timeout: float) -> None:
        """Until the update reaches `stage` (or completes), or `timeout` seconds pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.stage < stage and (remaining := deadline - loop.time()) > 0:
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                return


class UpdateRegistry:
    def __init__(self) -> None:
        self._runs: dict[ExecutionKey, dict[str, PendingUpdate]] = {}

    def get(self, key: ExecutionKey, update_id: str) -> PendingUpdate | None:
        return self._runs.get(key, {}).get(update_id)

    def add(self, key: ExecutionKey, update_id: str, pending: PendingUpdate) -> PendingUpdate:
        return self._runs.setdefault(key, {}).setdefault(update_id, pending)

    def admitted(self, key: ExecutionKey) -> list[PendingUpdate]:
        """Updates the workflow has not accepted or rejected yet, in arrival order."""
        return [update for update in self._runs.get(key, {}).values() if update.stage == ADMITTED]

    def discard(self, key: ExecutionKey, update_id: str) -> None:
        run = self._runs.get(key)
        if run is not None:
            run.pop(update_id, None)
            if not run:
                del self._runs[key]
