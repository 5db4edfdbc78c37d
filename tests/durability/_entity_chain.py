"""Read the entity workflow's chain of runs back from the server and check it against the state the workflow
reports: every run's input must be exactly what the previous run's signals make of the previous input.

Returns readable problems instead of asserting one at a time, so a failure reports everything at once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.converter import DataConverter

from ._entity_workflow import CONTINUE_AS_NEW_AT, EntityState, has

SIGNALED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
CONTINUED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
COMPLETED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
MAX_RUNS = 1000  # a chain longer than this does not end


@dataclass
class ChainRun:
    run_id: str
    events: list[HistoryEvent]
    state_in: EntityState  # the run's input
    added: list[int] = field(default_factory=list)  # numbers of its `add` signals, in history order

    @property
    def next_run_id(self) -> str:
        last = self.events[-1]
        if last.event_type != CONTINUED:
            return ""
        return str(last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id)


def _decode(payloads: Any, kind: type) -> Any:
    return DataConverter.default.payload_converter.from_payloads(list(payloads.payloads), [kind])[0]


async def fetch_chain(client: Client, workflow_id: str, first_run_id: str) -> list[ChainRun]:
    """Every run from `first_run_id` on, following `new_execution_run_id` of each closing event."""
    runs: list[ChainRun] = []
    run_id = first_run_id
    while run_id:
        assert len(runs) < MAX_RUNS, "the chain does not end"
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        events = list(history.events)
        started = events[0].workflow_execution_started_event_attributes
        run = ChainRun(run_id, events, _decode(started.input, EntityState))
        for event in events:
            attributes = event.workflow_execution_signaled_event_attributes
            if event.event_type == SIGNALED and attributes.signal_name == "add":
                run.added.append(_decode(attributes.input, int))
        runs.append(run)
        run_id = run.next_run_id
    return runs


def apply(state: EntityState, numbers: list[int]) -> EntityState:
    """What the workflow makes of `state` after handling `numbers` (the test's own model of it)."""
    seen = state.bitmap()
    count, total, duplicates = state.count, state.total, state.duplicates
    for number in numbers:
        if has(seen, number):
            duplicates += 1
            continue
        seen[number >> 3] |= 1 << (number & 7)
        count += 1
        total += number
    return EntityState(
        size=state.size,
        count=count,
        total=total,
        duplicates=duplicates,
        deliveries=state.deliveries + len(numbers),
        run=state.run,
        seen=seen.hex(),
    )


def check_chain(runs: list[ChainRun], final: EntityState, margin: int) -> list[str]:
    """Each run carries the state its predecessor's history implies; every run but the last continued as
    new with CONTINUE_AS_NEW_AT to CONTINUE_AS_NEW_AT + margin events; the last completed with `final`."""
    problems = []
    for index, run in enumerate(runs):
        expected_out = apply(run.state_in, run.added)
        last = index == len(runs) - 1
        if run.state_in.run != index + 1:
            problems.append(f"run {index + 1} ({run.run_id}) got run number {run.state_in.run}")
        if last:
            if run.events[-1].event_type != COMPLETED:
                problems.append(
                    f"last run {run.run_id} closed with {EventType.Name(run.events[-1].event_type)}"
                )
            if final != expected_out:
                problems.append(f"final state {_brief(final)} != its history's {_brief(expected_out)}")
            continue
        if not CONTINUE_AS_NEW_AT <= len(run.events) <= CONTINUE_AS_NEW_AT + margin:
            problems.append(f"run {index + 1} ({run.run_id}) continued as new with {len(run.events)} events")
        handed_on = runs[index + 1].state_in
        if handed_on != replace(expected_out, run=index + 2):
            problems.append(
                f"run {index + 1} handed on {_brief(handed_on)}, its history makes {_brief(expected_out)}"
            )
    return problems


def delivery_counts(runs: list[ChainRun]) -> Counter[int]:
    """How many `add` signals the server recorded for each number, across the whole chain."""
    return Counter(number for run in runs for number in run.added)


def _brief(state: EntityState) -> str:
    return (
        f"(count={state.count} total={state.total} duplicates={state.duplicates} "
        f"deliveries={state.deliveries} run={state.run} bits={bin(int(state.seen or '0', 16)).count('1')})"
    )
