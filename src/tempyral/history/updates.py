"""Updates admitted to running workflows and not finished yet, held in memory with their waiting callers.

What must survive a restart is in history and mutable state (accepted and completed update ids); an
update still only admitted when the server stops is lost, and the caller's retry admits it again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import UpdateWorkflowExecutionLifecycleStage as Stage
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.update.v1 import message_pb2 as update_pb

from tempyral.errors import NotFound, ServiceError

ExecutionKey = tuple[str, str, str]
ADMITTED = Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
ACCEPTED = Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED
COMPLETED = Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED

# The outcome of an accepted update whose workflow closed first, as the real server words it.
CLOSED_BEFORE_COMPLETION = update_pb.Outcome(
    failure=failure_pb.Failure(
        message="Workflow Update failed because the Workflow completed before the Update completed.",
        source="Server",
        application_failure_info=failure_pb.ApplicationFailureInfo(
            type="AcceptedUpdateCompletedWorkflow", non_retryable=True
        ),
    )
)


@dataclass
class PendingUpdate:
    request: update_pb.Request
    stage: int = ADMITTED
    outcome: update_pb.Outcome | None = None
    # Set when the run closed before the workflow accepted the update: the caller gets this error.
    aborted: ServiceError | None = None
    # The workflow refused the update (its outcome is the rejection): callers get no event link.
    rejected: bool = False
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
            if self.aborted is not None:
                raise self.aborted


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

    def close_run(self, key: ExecutionKey) -> None:
        """The run closed: updates it accepted fail, updates it never saw are aborted."""
        for pending in self._runs.pop(key, {}).values():
            if pending.stage == ACCEPTED:
                pending.advance(COMPLETED, CLOSED_BEFORE_COMPLETION)
            elif pending.stage == ADMITTED:
                pending.aborted = NotFound("workflow update was aborted by closing workflow")
                pending.changed.set()

    def discard(self, key: ExecutionKey, update_id: str) -> None:
        run = self._runs.get(key)
        if run is not None:
            run.pop(update_id, None)
            if not run:
                del self._runs[key]
