"""What the engine hands the store and gets back: plain records, no SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tempyral.visibility.records import VisibilityRow


@dataclass(frozen=True)
class TaskRow:
    """One outbox row. `fire_at` None: a matching task on `task_queue`; otherwise a timer."""

    namespace_id: str
    workflow_id: str
    run_id: str
    key: str
    task_queue: str = ""
    fire_at: float | None = None


@dataclass
class ExecutionWrite:
    """Everything one state change of one run persists, committed atomically."""

    namespace_id: str
    workflow_id: str
    run_id: str
    state: bytes
    new_events: list[tuple[int, bytes]] = field(default_factory=list)
    upsert_tasks: list[TaskRow] = field(default_factory=list)
    delete_task_keys: list[str] = field(default_factory=list)
    # The run closed: every outbox row it still has is obsolete.
    delete_all_tasks: bool = False
    # Point the workflow id at this run (a new run started).
    make_current: bool = False
    # The run's visibility row, when what lists show of it changed.
    visibility: VisibilityRow | None = None


@dataclass(frozen=True)
class LoadedExecution:
    state: bytes
    events: list[bytes]


@dataclass(frozen=True)
class NamespaceRow:
    id: str
    name: str
    data: bytes
