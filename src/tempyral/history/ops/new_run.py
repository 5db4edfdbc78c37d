"""The next run of a workflow id: continue-as-new, a retry of a failed run, the next cron run.

The closing run and the new one commit in one transaction (`ExecutionContext.next_run`), so a crash can
never leave a chain without its next run or with two.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import ContinueAsNewInitiator, RetryState, TaskQueueKind
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.history.v1 import message_pb2 as history
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue
from temporalio.api.workflow.v1 import message_pb2 as workflow_pb

from tempyral.clock import to_timestamp
from tempyral.durations import to_duration
from tempyral.history import cron, retry
from tempyral.history.build_ids import without_build_ids
from tempyral.history.engine import HistoryEngine
from tempyral.history.execution import ExecutionContext
from tempyral.history.mutable_state import ExecutionState, RetryPolicy
from tempyral.history.ops.start_workflow import set_parent_attributes
from tempyral.history.ops.workflow_task_schedule import schedule_workflow_task
from tempyral.history.proto_presence import present

MIN_RUN_INTERVAL_SECONDS = 1.0


@dataclass
class NextRun:
    """How the next run differs from the closing one; None means "the same as the closing run"."""

    initiator: int
    attempt: int = 1
    backoff: float | None = None
    workflow_type: str | None = None
    task_queue: str | None = None
    input: common.Payloads | None = None
    header: common.Header | None = None
    memo: common.Memo | None = None
    search_attributes: common.SearchAttributes | None = None
    run_timeout: float | None = None
    task_timeout: float | None = None
    retry_policy: RetryPolicy | None = None
    cron_schedule: str | None = None
    continued_failure: failure_pb.Failure | None = None
    last_completion_result: common.Payloads | None = None
    # Continue-as-new always records the run timeout; retries and cron runs only when there is one.
    always_record_run_timeout: bool = False
    # Retries and cron runs repeat the closing run's input, header, memo and search attributes;
    # continue-as-new takes exactly what its command gives.
    inherit_payloads: bool = True


def first_event(ctx: ExecutionContext) -> history.WorkflowExecutionStartedEventAttributes:
    """The closing run's WORKFLOW_EXECUTION_STARTED attributes (its input, header, priority...)."""
    return history.HistoryEvent.FromString(ctx.history[0]).workflow_execution_started_event_attributes


def start_next_run(engine: HistoryEngine, ctx: ExecutionContext, spec: NextRun) -> str:
    """Prepare the next run in `ctx.next_run`; returns its run id for the closing event."""
    old = ctx.state
    started_before = first_event(ctx)
    run_id = str(uuid.uuid4())
    # The real server starts at most one run per second per workflow id.
    backoff = max(spec.backoff or 0.0, old.execution_time + MIN_RUN_INTERVAL_SECONDS - ctx.now)
    record_backoff = spec.backoff is not None or backoff > 0
    backoff = max(backoff, 0.0)
    inherit = spec.inherit_payloads
    run_timeout = old.run_timeout if spec.run_timeout is None else spec.run_timeout
    state = ExecutionState(
        namespace_id=old.namespace_id,
        workflow_id=old.workflow_id,
        run_id=run_id,
        workflow_type=spec.workflow_type or old.workflow_type,
        task_queue=spec.task_queue or old.task_queue,
        start_time=ctx.now,
        first_run_id=old.first_run_id,
        execution_time=ctx.now + backoff,
        execution_timeout=old.execution_timeout,
        run_timeout=run_timeout,
        task_timeout=old.task_timeout if spec.task_timeout is None else spec.task_timeout,
        execution_expiration_time=old.execution_expiration_time,
        memo=_chosen(spec.memo, old.memo, inherit),
        search_attributes=_chosen(spec.search_attributes, without_build_ids(old.search_attributes), inherit),
        auto_reset_points=_expiring(old.auto_reset_points, ctx.now, old.retention),
        attempt=spec.attempt,
        retry_policy=old.retry_policy if spec.retry_policy is None else spec.retry_policy,
        cron_schedule=old.cron_schedule if spec.cron_schedule is None else spec.cron_schedule,
        retention=old.retention,
        namespace_name=old.namespace_name,
        parent=old.parent,
        root_workflow_id=old.root_workflow_id,
        root_run_id=old.root_run_id,
    )
    attributes = history.WorkflowExecutionStartedEventAttributes(
        workflow_type=common.WorkflowType(name=state.workflow_type),
        task_queue=taskqueue.TaskQueue(name=state.task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
        workflow_task_timeout=to_duration(state.task_timeout),
        continued_execution_run_id=old.run_id,
        initiator=spec.initiator,  # type: ignore[arg-type]
        original_execution_run_id=run_id,
        first_execution_run_id=old.first_run_id,
        attempt=spec.attempt,
        cron_schedule=state.cron_schedule,
        workflow_id=old.workflow_id,
    )
    for name, value in (
        ("input", _payload(spec.input, started_before, "input", inherit)),
        ("header", _payload(spec.header, started_before, "header", inherit)),
        ("priority", present(started_before, "priority")),
        ("continued_failure", spec.continued_failure),
        ("last_completion_result", spec.last_completion_result),
    ):
        if value is not None:
            getattr(attributes, name).CopyFrom(value)
    # Empty memo and search attributes are left out, as the real server does.
    if state.memo:
        attributes.memo.ParseFromString(state.memo)
    if state.search_attributes:
        attributes.search_attributes.ParseFromString(state.search_attributes)
    if run_timeout > 0 or spec.always_record_run_timeout:
        attributes.workflow_run_timeout.CopyFrom(to_duration(run_timeout))
    if state.execution_timeout > 0:
        attributes.workflow_execution_timeout.CopyFrom(to_duration(state.execution_timeout))
        attributes.workflow_execution_expiration_time.CopyFrom(to_timestamp(state.execution_expiration_time))
    if state.retry_policy is not None:
        attributes.retry_policy.CopyFrom(retry.to_proto(state.retry_policy))
    if record_backoff:
        attributes.first_workflow_task_backoff.CopyFrom(to_duration(backoff))
    if old.parent is not None:
        set_parent_attributes(attributes, state, old.namespace_name)
    if state.auto_reset_points:
        attributes.prev_auto_reset_points.ParseFromString(state.auto_reset_points)
    next_ctx = ExecutionContext(state=state, now=ctx.now, make_current=True)
    next_ctx.append(ET.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, attributes)
    if backoff > 0:
        next_ctx.add_timer("wf_backoff", ctx.now + backoff)
    else:
        schedule_workflow_task(engine, next_ctx)
    timeout_at = run_timeout_at(state, ctx.now + backoff)
    if timeout_at:
        next_ctx.add_timer("wf_run_timeout", timeout_at)
    ctx.next_run = next_ctx
    return run_id


def _chosen(given: Message | None, inherited: bytes, inherit: bool) -> bytes:
    if given is not None:
        return given.SerializeToString()
    return inherited if inherit else b""


def _payload(
    given: Message | None,
    started_before: history.WorkflowExecutionStartedEventAttributes,
    name: str,
    inherit: bool,
) -> Any:
    if given is not None or not inherit:
        return given
    return present(started_before, name)


def _expiring(reset_points: bytes, now: float, retention: float) -> bytes:
    """The closing run's reset points, as the next run carries them: they expire with the closed run."""
    if not reset_points:
        return reset_points
    points = workflow_pb.ResetPoints.FromString(reset_points)
    for point in points.points:
        if not point.HasField("expire_time"):
            point.expire_time.CopyFrom(to_timestamp(now + retention))
    return points.SerializeToString()


def run_timeout_at(state: ExecutionState, run_start: float) -> float:
    """When this run times out: its run timeout, but never after the chain's execution timeout."""
    deadlines = []
    if state.run_timeout > 0:
        deadlines.append(run_start + state.run_timeout)
    if state.execution_expiration_time:
        deadlines.append(state.execution_expiration_time)
    return min(deadlines) if deadlines else 0.0


def retry_failed_run(
    engine: HistoryEngine, ctx: ExecutionContext, failure: failure_pb.Failure
) -> tuple[int, str]:
    """Apply the run's retry policy to its failure: (retry state, next run id or "" if none starts)."""
    state = ctx.state
    if state.retry_policy is None:
        return RetryState.RETRY_STATE_RETRY_POLICY_NOT_SET, ""
    delay, retry_state = retry.next_retry(
        state.retry_policy, state.attempt, failure, ctx.now, state.execution_expiration_time
    )
    if delay is None:
        return retry_state, ""
    spec = NextRun(
        initiator=ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_RETRY,
        attempt=state.attempt + 1,
        backoff=delay,
        continued_failure=failure,
    )
    return RetryState.RETRY_STATE_IN_PROGRESS, start_next_run(engine, ctx, spec)


def next_cron_run(
    engine: HistoryEngine,
    ctx: ExecutionContext,
    result: common.Payloads | None,
    failure: failure_pb.Failure | None,
) -> str:
    """A cron workflow's run ended (and will not be retried): schedule the next one at its next time.
    Returns the new run id, or "" if the workflow has no cron schedule."""
    state = ctx.state
    if not state.cron_schedule:
        return ""
    backoff = cron.backoff_seconds(state.cron_schedule, ctx.now)
    spec = NextRun(
        initiator=ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE,
        backoff=backoff,
        continued_failure=failure,
        # A failed run passes on the last successful result it inherited.
        last_completion_result=result
        if result is not None
        else present(first_event(ctx), "last_completion_result"),
        # Each cron run gets the whole retry policy again.
        retry_policy=state.retry_policy,
    )
    return start_next_run(engine, ctx, spec)
