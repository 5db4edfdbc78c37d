"""Client side of the entity scenarios: long-running EntityWorkflows and the operations measured on them.

`signal_roundtrip` and `query` do not start a workflow per operation. Setup starts `entities` EntityWorkflows
and waits until each has completed its first workflow task, so each is idle and cached on the worker's sticky
queue; the measured operations then act on those workflows. Each lane of the closed loop owns a fixed subset
of the entities (entity e belongs to lane e % lanes), so operations on one entity never overlap and the
expected signal count of every entity is known exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio.client import Client, WorkflowHandle

from .workloads import EntityWorkflow, Scenario


class EntityWorkload:
    """Starts the entity workflows, runs one scenario's operations on them, and checks them at the end."""

    def __init__(
        self,
        client: Client,
        scenario: Scenario,
        task_queue: str,
        entities: int,
        lanes: int,
        timeout_s: float,
        id_prefix: str,
    ) -> None:
        self.lanes = max(1, min(lanes, entities))
        self._client = client
        self._task_queue = task_queue
        self._entities = entities
        self._timeout_s = timeout_s
        self._id_prefix = id_prefix
        self._handles: list[WorkflowHandle[EntityWorkflow, int]] = []
        # Signals sent to each entity so far; only the lane that owns an entity touches its slot.
        self._sent = [0] * entities
        operations: dict[str, Callable[[int], Awaitable[None]]] = {
            "signal_roundtrip": self._signal_roundtrip,
            "query": self._query,
        }
        self._operation = operations[scenario.operation]

    async def setup(self) -> None:
        """Starts every entity and returns once each one has answered a query (first task done, cached)."""

        async def start(index: int) -> WorkflowHandle[EntityWorkflow, int]:
            handle = await self._client.start_workflow(
                EntityWorkflow.run, id=f"{self._id_prefix}-entity-{index}", task_queue=self._task_queue
            )
            # Both servers hold a query made before the first workflow task completed until it has, so
            # one query is enough to know the entity is cached on the sticky worker.
            await handle.query(EntityWorkflow.applied)
            return handle

        self._handles = list(
            await asyncio.wait_for(
                asyncio.gather(*(start(i) for i in range(self._entities))), self._timeout_s
            )
        )

    async def operate(self, tag: str, index: int, lane: int, turn: int) -> None:
        """One measured operation, on the next entity in this lane's turn order."""
        owned = range(lane, self._entities, self.lanes)
        await self._operation(owned[turn % len(owned)])

    async def _signal_roundtrip(self, entity: int) -> None:
        """A signal and the wait until the workflow processed it: SignalWorkflowExecution, then QueryWorkflow.

        The signal call returns once the server has recorded WorkflowExecutionSignaled and scheduled a
        workflow task on the sticky queue. The query that follows cannot be answered from the worker's cache
        right away: queries are consistent, so one that arrives while a workflow task is pending or running
        is held until that task completes (it rides along in the task, or goes to the worker as a query-only
        task just after), and its answer includes every event accepted before it. So the timed interval
        covers the whole path: signal RPC and persistence, workflow task dispatch to the sticky worker, the
        worker applying the signal, RespondWorkflowTaskCompleted and its persistence, and the query answer.
        The answer must equal the number of signals this entity was sent; an answer that misses this signal
        fails the operation, so a server that answered before processing the signal shows failures, not a
        flattering latency.

        Why not an update that waits for the signal: it would add a second workflow task and two history
        events to every operation, measuring the update path as much as the signal path. Why not polling a
        query: the poll interval would dominate the latency.
        """
        handle = self._handles[entity]
        self._sent[entity] += 1
        await handle.signal(EntityWorkflow.bump)
        applied = await handle.query(EntityWorkflow.applied)
        if applied != self._sent[entity]:
            raise ValueError(f"query saw {applied} signals, expected {self._sent[entity]}")

    async def _query(self, entity: int) -> None:
        """One QueryWorkflow against an entity that is idle and cached on the sticky worker.

        No signals are sent in this scenario, so the workflow has no pending workflow task: the server hands
        the query straight to the sticky worker as a query-only task, the worker answers it from its cache
        (RespondQueryTaskCompleted) and the server relays the answer. Nothing is written to history.
        """
        applied = await self._handles[entity].query(EntityWorkflow.applied)
        if applied != self._sent[entity]:
            raise ValueError(f"query answered {applied}, expected {self._sent[entity]}")

    async def teardown(self) -> None:
        """Signals every entity to finish and checks each counted exactly the signals it was sent."""

        async def finish(entity: int) -> int:
            handle = self._handles[entity]
            await handle.signal(EntityWorkflow.finish)
            return await handle.result()

        counted = await asyncio.wait_for(
            asyncio.gather(*(finish(e) for e in range(len(self._handles)))), self._timeout_s
        )
        wrong = [(e, c, self._sent[e]) for e, c in enumerate(counted) if c != self._sent[e]]
        if wrong:
            raise RuntimeError(f"entities miscounted signals (entity, counted, sent): {wrong}")
