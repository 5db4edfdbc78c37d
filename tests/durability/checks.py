"""What must hold after crashes, as functions that return a list of readable problems instead of asserting
one at a time, so a failing crash test reports everything that went wrong in one run.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from .crash import Crasher
from .workload import Execution, Job

# How long the worker's event loop may take to begin an activity after the server handed out its task: a run
# that begins later than this after an acknowledgement cannot have been handed out before it.
DISPATCH_LAG = 1.0
# Events that only belong to a failed, timed-out or otherwise disturbed run of this workload.
FORBIDDEN = {
    "ACTIVITY_TASK_FAILED",
    "ACTIVITY_TASK_TIMED_OUT",
    "ACTIVITY_TASK_CANCEL_REQUESTED",
    "TIMER_CANCELED",
    "WORKFLOW_EXECUTION_FAILED",
    "WORKFLOW_EXECUTION_TIMED_OUT",
    "WORKFLOW_EXECUTION_TERMINATED",
    "WORKFLOW_EXECUTION_CANCELED",
    "WORKFLOW_EXECUTION_CONTINUED_AS_NEW",
}


async def results_within(handles: Sequence[WorkflowHandle[Any, Any]], patience: float) -> list[Any]:
    """The workflows' results; after `patience` seconds, fail naming the unfinished ones and their state."""
    tasks = [asyncio.create_task(handle.result()) for handle in handles]
    _, pending = await asyncio.wait(tasks, timeout=patience)
    for task in pending:
        task.cancel()
    if pending:
        unfinished = [handle for handle, task in zip(handles, tasks, strict=True) if task in pending]
        states = [await describe_stuck(handle) for handle in unfinished[:5]]
        raise AssertionError(
            f"{len(unfinished)} workflows unfinished after {patience} s:\n" + "\n".join(states)
        )
    return [task.result() for task in tasks]


async def describe_stuck(handle: WorkflowHandle[Any, Any]) -> str:
    """What the server says about an unfinished workflow: its status, pending work and last events."""
    try:
        description = await handle.describe()
        events = [event async for event in handle.fetch_history_events()]
    except RPCError as error:
        return f"{handle.id}: {error.status!r} {error.message}"
    raw = description.raw_description
    pending = [
        f"activity {a.activity_id} state={a.state} attempt={a.attempt} failure={a.last_failure.message!r}"
        for a in raw.pending_activities
    ]
    if raw.HasField("pending_workflow_task"):
        task = raw.pending_workflow_task
        pending.append(f"workflow task state={task.state} attempt={task.attempt}")
    tail = [f"{event.event_id} {type_name(event)}" for event in events[-8:]]
    return f"{handle.id}: {description.status!r}; pending {pending}; last events {tail}"


def type_name(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


def _nanos(event: HistoryEvent) -> int:
    return event.event_time.ToNanoseconds()


def step_key(scheduled: HistoryEvent) -> tuple[str, int, int]:
    """(workflow id, step, slot) of an ACTIVITY_TASK_SCHEDULED event, read from the activity's JSON input."""
    call = json.loads(scheduled.activity_task_scheduled_event_attributes.input.payloads[0].data)
    return call["workflow_id"], call["step"], call["slot"]


def check_history(job: Job, run_id: str | None, events: list[HistoryEvent] | None) -> list[str]:
    """A completed run of `job`: contiguous ids, one completion, each activity scheduled and completed once,
    each timer started and fired once and never before its due time."""
    where = job.workflow_id
    if events is None:
        return [f"{where}: workflow not found"]
    types = [type_name(event) for event in events]
    problems = []
    if [event.event_id for event in events] != list(range(1, len(events) + 1)):
        problems.append(f"{where}: event ids not 1..{len(events)}: {[e.event_id for e in events]}")
    if not types or types[0] != "WORKFLOW_EXECUTION_STARTED" or types[-1] != "WORKFLOW_EXECUTION_COMPLETED":
        problems.append(f"{where}: history is not STARTED..COMPLETED: {types}")
    counts = Counter(types)
    if counts["WORKFLOW_EXECUTION_COMPLETED"] != 1:
        problems.append(
            f"{where}: {counts['WORKFLOW_EXECUTION_COMPLETED']} WORKFLOW_EXECUTION_COMPLETED events"
        )
    if bad := sorted(FORBIDDEN & counts.keys()):
        problems.append(f"{where}: unexpected events {bad}: {types}")
    if events and run_id is not None:
        started = events[0].workflow_execution_started_event_attributes
        if started.original_execution_run_id != run_id:
            problems.append(
                f"{where}: run {started.original_execution_run_id} is not the acknowledged {run_id}"
            )

    by_id = {event.event_id: event for event in events}
    activity_calls = sum(2 if step.kind == "parallel" else 1 for step in job.steps if step.kind != "timer")
    scheduled = [event for event in events if type_name(event) == "ACTIVITY_TASK_SCHEDULED"]
    keys = Counter(step_key(event) for event in scheduled)
    if len(scheduled) != activity_calls or any(n > 1 for n in keys.values()):
        problems.append(
            f"{where}: activities scheduled {sorted(keys.elements())}, want {activity_calls} distinct"
        )
    completed = [
        e.activity_task_completed_event_attributes
        for e in events
        if e.HasField("activity_task_completed_event_attributes")
    ]
    done = Counter(attributes.scheduled_event_id for attributes in completed)
    if sorted(done) != sorted(event.event_id for event in scheduled) or any(n > 1 for n in done.values()):
        problems.append(f"{where}: activity completions {sorted(done.elements())} do not match schedules")

    timers = [step.seconds for step in job.steps if step.kind == "timer"]
    started_timers = [event for event in events if type_name(event) == "TIMER_STARTED"]
    fired = [e.timer_fired_event_attributes for e in events if e.HasField("timer_fired_event_attributes")]
    durations = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToNanoseconds() for e in started_timers
    ]
    if sorted(durations) != sorted(round(seconds * 1e9) for seconds in timers):
        problems.append(f"{where}: timers started {len(started_timers)}, want durations {timers}")
    fired_ids = Counter(attributes.started_event_id for attributes in fired)
    started_ids = [event.event_id for event in started_timers]
    if sorted(fired_ids) != started_ids or any(n > 1 for n in fired_ids.values()):
        problems.append(f"{where}: timers fired for {sorted(fired_ids.elements())}, started {started_ids}")
    for event in events:
        if not event.HasField("timer_fired_event_attributes"):
            continue
        start = by_id.get(event.timer_fired_event_attributes.started_event_id)
        if start is None:
            continue
        due = _nanos(start) + start.timer_started_event_attributes.start_to_fire_timeout.ToNanoseconds()
        if _nanos(event) < due:
            problems.append(
                f"{where}: timer {start.event_id} fired {(due - _nanos(event)) / 1e6:.1f} ms early"
            )
    return problems


def check_reruns(executions: Iterable[Execution], crasher: Crasher) -> tuple[list[str], int]:
    """At-least-once, and no more. Beyond the planned retries, a step may run again only where a kill explains
    it, and never once the server has acknowledged the step's completion, or a failure of the same attempt.
    Returns the problems and the number of re-runs a kill excused."""
    by_step: dict[tuple[str, int, int], list[Execution]] = defaultdict(list)
    for execution in executions:
        by_step[execution.workflow_id, execution.step, execution.slot].append(execution)
    problems = []
    excused = 0
    for key, runs in sorted(by_step.items()):
        runs.sort(key=lambda run: run.started)
        problems += _runs_after_acknowledgement(key, runs)
        for previous, run in itertools.pairwise(runs):
            if previous.failed and run.attempt == previous.attempt + 1:
                continue  # the planned retry
            if _excused_by_a_kill(previous, run, crasher):
                excused += 1
                continue
            kills = [(round(outage.killed, 2), round(outage.restarted, 2)) for outage in crasher.outages]
            problems.append(
                f"{key}: attempt {run.attempt} ran at {run.started:.2f} after attempt {previous.attempt} "
                f"ran {previous.started:.2f} and was answered {previous.reported:.2f} "
                f"({'acknowledged' if previous.acknowledged else 'refused'}), with no kill to excuse it "
                f"(killed, restarted): {kills}"
            )
    return problems, excused


def _excused_by_a_kill(previous: Execution, run: Execution, crasher: Crasher) -> bool:
    """Whether a kill explains `run` following `previous` other than as the planned next attempt."""
    if crasher.in_flight_at_kill(previous.started, previous.reported):
        return True  # the server may never have heard how `previous` ended, and retried it
    # An attempt handed out as the server died can be lost on the way: the server times it out and retries,
    # so the worker sees a gap in attempt numbers after an acknowledged failure.
    return (
        previous.failed
        and previous.acknowledged
        and run.attempt > previous.attempt + 1
        and crasher.killed_between(previous.reported, run.started)
    )


def _runs_after_acknowledgement(key: tuple[str, int, int], runs: list[Execution]) -> list[str]:
    problems = []
    for done in (run for run in runs if run.acknowledged):
        for run in runs:
            repeats = not done.failed or run.attempt == done.attempt
            if repeats and run.started > done.reported + DISPATCH_LAG:
                outcome = "failure" if done.failed else "completion"
                problems.append(
                    f"{key}: attempt {run.attempt} ran at {run.started:.2f}, after the server acknowledged "
                    f"the {outcome} of attempt {done.attempt} at {done.reported:.2f}"
                )
    return problems


@dataclass
class Snapshot:
    """A history as the server served it before a kill; `taken` is when the read returned."""

    workflow_id: str
    taken: float
    events: list[HistoryEvent]


def check_snapshot(
    snapshot: Snapshot, final: list[HistoryEvent] | None, executions: Iterable[Execution]
) -> list[str]:
    """What the server showed before a kill survives it: the snapshot (less a trailing workflow task, which
    may be transient) is a prefix of the final history, and no activity it showed completed ran again."""
    where = snapshot.workflow_id
    if final is None:
        return [f"{where}: workflow not found at the end, though it was before a kill"]
    kept = list(snapshot.events)
    while kept and type_name(kept[-1]) in ("WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED"):
        kept.pop()
    problems = []
    for before, after in zip(kept, final, strict=False):
        if before.SerializeToString(deterministic=True) != after.SerializeToString(deterministic=True):
            problems.append(
                f"{where}: event {before.event_id} {type_name(before)} changed after a kill: {after}"
            )
            break
    if len(final) < len(kept):
        problems.append(f"{where}: history shrank from {len(kept)} events before a kill to {len(final)}")
    scheduled = {e.event_id: e for e in kept if type_name(e) == "ACTIVITY_TASK_SCHEDULED"}
    acknowledged = {
        step_key(scheduled[e.activity_task_completed_event_attributes.scheduled_event_id])
        for e in kept
        if e.HasField("activity_task_completed_event_attributes")
    }
    for execution in executions:
        key = (execution.workflow_id, execution.step, execution.slot)
        if key in acknowledged and execution.started > snapshot.taken + DISPATCH_LAG:
            problems.append(
                f"{key}: ran again (attempt {execution.attempt}) after its completion was in history"
            )
    return problems


async def check_single_run(client: Client, started: dict[str, str]) -> list[str]:
    """Each workflow id has exactly the one run its start returned: that run is the id's current run and
    its own first run, so no start made a second one, and visibility lists it exactly once."""
    problems = []
    listed = Counter([execution.id async for execution in client.list_workflows()])
    problems += [f"{wid}: listed {listed[wid]} times" for wid in started if listed[wid] != 1]
    for workflow_id, run_id in started.items():
        description = await client.get_workflow_handle(workflow_id).describe()
        if (description.run_id, description.raw_description.workflow_execution_info.first_run_id) != (
            run_id,
            run_id,
        ):
            problems.append(
                f"{workflow_id}: current run {description.run_id} "
                f"(first run {description.raw_description.workflow_execution_info.first_run_id}), "
                f"but its start returned {run_id}"
            )
    return problems
