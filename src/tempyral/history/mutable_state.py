"""Mutable state of one workflow run: what the engine decides with, snapshotted with every commit.

History events are the record of what happened; this is the index over it that lets every operation decide
without replaying: the pending workflow task, pending activities and timers, events buffered while a
workflow task is in flight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from temporalio.api.enums.v1 import WorkflowExecutionStatus

RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING


@dataclass
class RetryPolicy:
    initial_interval: float = 1.0
    backoff_coefficient: float = 2.0
    maximum_interval: float = 100.0
    # 0 means unlimited.
    maximum_attempts: int = 0
    non_retryable_error_types: list[str] = field(default_factory=list)


@dataclass
class ActivityInfo:
    scheduled_event_id: int
    activity_id: str
    activity_type: str
    task_queue: str
    scheduled_time: float
    retry_policy: RetryPolicy
    schedule_to_close_timeout: float = 0.0
    schedule_to_start_timeout: float = 0.0
    start_to_close_timeout: float = 0.0
    heartbeat_timeout: float = 0.0
    # The workflow's build id is recorded on the activity's STARTED event (SDKs set this).
    use_workflow_build_id: bool = False
    attempt: int = 1
    # When the current attempt became available to workers (first scheduling or end of retry backoff).
    attempt_scheduled_time: float = 0.0
    # Zero while the current attempt waits in its task queue (or in retry backoff).
    started_time: float = 0.0
    started_identity: str = ""
    started_request_id: str = ""
    # True while waiting for the retry backoff timer; the task is not in any queue meanwhile.
    in_backoff: bool = False
    heartbeat_details: bytes | None = None
    last_heartbeat_time: float = 0.0
    last_failure: bytes | None = None
    last_worker_identity: str = ""
    cancel_requested: bool = False
    cancel_requested_event_id: int = 0

    @property
    def started(self) -> bool:
        return self.started_time > 0


@dataclass
class TimerInfo:
    timer_id: str
    started_event_id: int
    fire_at: float


@dataclass
class WorkflowTaskInfo:
    # Increases with each scheduled workflow task; names its matching and timeout tasks.
    seq: int
    attempt: int
    task_queue: str
    sticky: bool
    scheduled_time: float
    start_to_close_timeout: float
    # A retry of a failed task: its scheduled/started events are written only if it completes.
    transient: bool = False
    # Zero until written (or, for a transient task, until started).
    scheduled_event_id: int = 0
    started_event_id: int = 0
    started_time: float = 0.0
    started_identity: str = ""
    # The poller's build id, recorded on the STARTED event (also when that event is synthesized later).
    started_build_id: str = ""
    request_id: str = ""
    # Delayed start (start delay, retry backoff): not dispatched until this time.
    dispatch_at: float = 0.0
    # Scheduled only to deliver updates: if they are all rejected, the task leaves no trace in history.
    speculative: bool = False

    @property
    def started(self) -> bool:
        return self.started_time > 0


@dataclass
class ChildInfo:
    """A child workflow this run started (or is starting), until its outcome is recorded here."""

    initiated_event_id: int
    workflow_id: str
    workflow_type: str
    parent_close_policy: int
    # Set once the child run exists (CHILD_WORKFLOW_EXECUTION_STARTED).
    run_id: str = ""
    started_event_id: int = 0


@dataclass
class ParentInfo:
    """The run that started this one as a child; carried along the child's continue-as-new chain."""

    namespace_id: str
    workflow_id: str
    run_id: str
    initiated_event_id: int


@dataclass
class ExecutionState:
    namespace_id: str
    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    start_time: float
    first_run_id: str
    status: int = RUNNING
    execution_time: float = 0.0
    close_time: float = 0.0
    execution_timeout: float = 0.0
    run_timeout: float = 0.0
    task_timeout: float = 10.0
    execution_expiration_time: float = 0.0
    next_event_id: int = 1
    history_size_bytes: int = 0
    # Started event id of the last completed workflow task: a sticky worker has history up to here.
    previous_started_event_id: int = 0
    last_completed_workflow_task_event_id: int = 0
    start_request_id: str = ""
    sticky_task_queue: str = ""
    sticky_schedule_to_start_timeout: float = 0.0
    cancel_requested: bool = False
    signal_request_ids: list[str] = field(default_factory=list)
    workflow_task_seq: int = 0
    workflow_task: WorkflowTaskInfo | None = None
    activities: dict[int, ActivityInfo] = field(default_factory=dict)
    timers: dict[str, TimerInfo] = field(default_factory=dict)
    # Serialized HistoryEvents (no event id yet) that arrived while a workflow task was in flight.
    buffered_events: list[bytes] = field(default_factory=list)
    # The build id of the worker that completed the last workflow task.
    build_id: str = ""
    # Run chaining (continue-as-new, retries, cron).
    attempt: int = 1
    retry_policy: RetryPolicy | None = None
    cron_schedule: str = ""
    retention: float = 24 * 3600.0
    # Serialized temporal.api.workflow.v1.ResetPoints: the first completed task of each build id.
    auto_reset_points: bytes = b""
    namespace_name: str = ""
    children: dict[int, ChildInfo] = field(default_factory=dict)
    parent: ParentInfo | None = None
    root_workflow_id: str = ""
    root_run_id: str = ""
    # Update id -> its WORKFLOW_EXECUTION_UPDATE_ACCEPTED / _COMPLETED event id (durable deduplication).
    accepted_updates: dict[str, int] = field(default_factory=dict)
    completed_updates: dict[str, int] = field(default_factory=dict)
    memo: bytes = b""
    search_attributes: bytes = b""
    close_event_id: int = 0
    state_transition_count: int = 0
    # Reset: a run made by resetting another starts anew but keeps the chain's original start time; the
    # run that was reset names the run that replaced it.
    original_start_time: float = 0.0
    last_reset_time: float = 0.0
    reset_run_id: str = ""

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    @property
    def workflow_task_in_flight(self) -> bool:
        return self.workflow_task is not None and self.workflow_task.started

    def activity_by_id(self, activity_id: str) -> ActivityInfo | None:
        for info in self.activities.values():
            if info.activity_id == activity_id:
                return info
        return None
