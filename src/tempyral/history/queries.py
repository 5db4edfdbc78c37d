"""Queries waiting for a worker, held in memory: buffered ones ride in workflow tasks, direct ones are
query-only tasks.

Nothing here is persisted (a query changes nothing); a caller whose query is lost with a restart retries.
A query is *buffered* while its run has a workflow task pending or running: every task that starts
carries all buffered queries in its `queries` map, and the task's completion answers them, or releases
the unanswered ones to go out as query-only tasks when no new task follows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from temporalio.api.query.v1 import message_pb2 as query_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.config import DynamicConfig
from tempyral.errors import InvalidArgument, ServiceError
from tempyral.history.execution import ExecutionContext
from tempyral.history.mutable_state import ExecutionState
from tempyral.limits import blob_too_large

ExecutionKey = tuple[str, str, str]

# The worker's answer, or a signal to dispatch directly ("unblocked") or to start over ("cleared": the
# run's state changed under the query, as when a task failed for bad commands).
Outcome = query_pb.WorkflowQueryResult | ServiceError | Literal["unblocked", "cleared"]


def _future() -> asyncio.Future[Outcome]:
    return asyncio.get_running_loop().create_future()


@dataclass
class BufferedQuery:
    query: query_pb.WorkflowQuery
    outcome: asyncio.Future[Outcome] = field(default_factory=_future)

    def settle(self, outcome: Outcome) -> None:
        if not self.outcome.done():
            self.outcome.set_result(outcome)


@dataclass
class PendingQuery:
    """A query-only task waiting for RespondQueryTaskCompleted."""

    namespace_id: str
    workflow_id: str
    run_id: str
    query: query_pb.WorkflowQuery
    answer: asyncio.Future[wsr.RespondQueryTaskCompletedRequest] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class QueryRegistry:
    """Direct (query-only) queries by id, and buffered queries by run."""

    def __init__(self) -> None:
        self.pending: dict[str, PendingQuery] = {}
        self._buffered: dict[ExecutionKey, dict[str, BufferedQuery]] = {}

    def buffer(self, key: ExecutionKey, query: query_pb.WorkflowQuery) -> tuple[str, BufferedQuery]:
        query_id = str(uuid.uuid4())
        buffered = BufferedQuery(query)
        self._buffered.setdefault(key, {})[query_id] = buffered
        return query_id, buffered

    def buffered_count(self, key: ExecutionKey) -> int:
        return len(self._buffered.get(key, {}))

    def buffered(self, key: ExecutionKey) -> dict[str, query_pb.WorkflowQuery]:
        """What a starting workflow task carries: every query still waiting, by id."""
        return {query_id: entry.query for query_id, entry in self._buffered.get(key, {}).items()}

    def remove(self, key: ExecutionKey, query_id: str) -> None:
        run = self._buffered.get(key)
        if run is not None:
            run.pop(query_id, None)
            if not run:
                del self._buffered[key]

    def settle(self, key: ExecutionKey, query_id: str, outcome: Outcome) -> None:
        """Give one buffered query its outcome (an id the run does not know is ignored)."""
        entry = self._buffered.get(key, {}).get(query_id)
        if entry is not None:
            self.remove(key, query_id)
            entry.settle(outcome)

    def settle_all(self, key: ExecutionKey, outcome: Outcome) -> None:
        for query_id in list(self._buffered.get(key, {})):
            self.settle(key, query_id, outcome)


def settle_buffered_queries(
    registry: QueryRegistry,
    ctx: ExecutionContext,
    results: Mapping[str, query_pb.WorkflowQueryResult],
    dynamic: DynamicConfig,
) -> None:
    """After a workflow task completed: answer the queries it has results for; with no new task to carry
    the others, release them to go out as query-only tasks (nothing can have come before them unseen).
    Callers are told once the completion is committed."""
    state = ctx.state
    key = (state.namespace_id, state.workflow_id, state.run_id)
    new_task = state.running and state.workflow_task is not None
    outcomes: dict[str, Outcome] = {}
    for query_id, result in results.items():
        too_large = result.HasField("answer") and blob_too_large(result.answer, dynamic)
        outcomes[query_id] = InvalidArgument("Blob data size exceeds limit.") if too_large else result

    def settle() -> None:
        for query_id, outcome in outcomes.items():
            registry.settle(key, query_id, outcome)
        if not new_task:
            registry.settle_all(key, "unblocked")

    ctx.after_commit.append(settle)


def clear_buffered_queries(registry: QueryRegistry, ctx: ExecutionContext) -> None:
    """The task failed on its commands: its queries start over once the failure is committed."""
    state = ctx.state
    key = (state.namespace_id, state.workflow_id, state.run_id)
    ctx.after_commit.append(lambda: registry.settle_all(key, "cleared"))


def attached_queries(registry: QueryRegistry, state: ExecutionState) -> dict[str, query_pb.WorkflowQuery]:
    """The queries a starting workflow task carries: all buffered ones of its run."""
    return registry.buffered((state.namespace_id, state.workflow_id, state.run_id))
