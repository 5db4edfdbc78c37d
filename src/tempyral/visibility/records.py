"""The visibility row of a run: what lists and counts show and filter on, derived from mutable state."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.api.common.v1 import message_pb2 as common

from tempyral.history.mutable_state import ExecutionState


@dataclass(frozen=True)
class VisibilityRow:
    namespace_id: str
    workflow_id: str
    run_id: str
    workflow_type: str
    status: int
    start_time: float
    close_time: float | None
    execution_time: float
    execution_duration: float | None
    task_queue: str
    history_length: int
    history_size_bytes: int
    parent_workflow_id: str | None
    root_workflow_id: str | None
    search_attributes: str
    memo_raw: bytes
    search_attributes_raw: bytes
    root_run_id: str | None
    parent_run_id: str | None
    state_transition_count: int


def visibility_row(state: ExecutionState) -> VisibilityRow:
    execution_time = state.execution_time or state.start_time
    closed = not state.running
    return VisibilityRow(
        namespace_id=state.namespace_id,
        workflow_id=state.workflow_id,
        run_id=state.run_id,
        workflow_type=state.workflow_type,
        status=state.status,
        start_time=state.start_time,
        close_time=state.close_time if closed else None,
        execution_time=execution_time,
        execution_duration=max(0.0, state.close_time - execution_time) if closed else None,
        task_queue=state.task_queue,
        history_length=state.next_event_id - 1,
        history_size_bytes=state.history_size_bytes,
        parent_workflow_id=state.parent.workflow_id if state.parent else None,
        root_workflow_id=state.root_workflow_id or state.workflow_id,
        search_attributes=json.dumps(decoded_search_attributes(state.search_attributes)),
        memo_raw=state.memo,
        search_attributes_raw=state.search_attributes,
        root_run_id=state.root_run_id or state.run_id,
        parent_run_id=state.parent.run_id if state.parent else None,
        # Counted as the commit writing this row will leave it.
        state_transition_count=state.state_transition_count,
    )


def decoded_search_attributes(raw: bytes) -> dict[str, Any]:
    """Search attribute payloads as plain JSON values; datetimes become epoch seconds so they compare."""
    attributes = common.SearchAttributes.FromString(raw)
    decoded: dict[str, Any] = {}
    for name, payload in attributes.indexed_fields.items():
        try:
            value = json.loads(payload.data) if payload.data else None
        except ValueError:
            continue
        if payload.metadata.get("type") == b"Datetime" and isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        decoded[name] = value
    return decoded
