"""Workflows and the one activity the composition scenarios run: children that end badly, signals and
cancels sent to other workflows, and a workflow task held open (by a local activity) while a signal lands.

The workflow sandbox re-imports this module, so it imports nothing but the SDK and the standard library.
Children and external targets are referred to by type name ("Fail", "Sleep", ...: workflows.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError

# ---------------------------------------------------------------------------------------------- task gate


@dataclass
class Gate:
    """Holds one workflow's task open: `entered` is set when the task is in flight, `release` ends it."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    calls: int = 0


# Keyed by workflow id: scenarios run concurrently in one process (the activity runs outside the sandbox,
# on the scenario's event loop, so it sees the gates the scenario opened).
GATES: dict[str, Gate] = {}


@activity.defn
async def hold_task(key: str) -> None:
    """Runs as a local activity, so the workflow task that called it stays in flight until released."""
    gate = GATES[key]
    gate.calls += 1
    gate.entered.set()
    await gate.release.wait()


COMPOSITION_ACTIVITIES = [hold_task]

# ----------------------------------------------------------------------------------------------- workflows


@dataclass
class ChildSpec:
    """The one child a `ChildOutcome` parent starts; `cancel` requests its cancellation right away."""

    workflow: str
    id: str
    task_queue: str
    args: list[Any] = field(default_factory=list)
    cancel: bool = False


@workflow.defn
class ChildOutcome:
    """Starts a child and reports how it ended (or why it could not start) as its result."""

    @workflow.run
    async def run(self, spec: ChildSpec) -> str:
        try:
            handle = await workflow.start_child_workflow(
                spec.workflow, args=spec.args, id=spec.id, task_queue=spec.task_queue
            )
        except WorkflowAlreadyStartedError as err:
            return f"start failed: {type(err).__name__}({err})"
        if spec.cancel:
            handle.cancel()  # WAIT_CANCELLATION_COMPLETED (default): resolves when the child is cancelled
        try:
            return f"child returned {await handle!r}"
        except ChildWorkflowError as err:
            return f"child error: {err} <- {type(err.cause).__name__}({err.cause})"


@workflow.defn
class GatedSignals:
    """Its first task runs `hold_task` (held open by the scenario) and collects `add` signals.

    With `wait_for_signal` it then waits for a signal (a buffered one arrives in the next task); without,
    it completes in that first task, which a signal that landed meanwhile makes the server refuse.
    """

    def __init__(self) -> None:
        self.items: list[str] = []

    @workflow.signal
    def add(self, item: str) -> None:
        self.items.append(item)

    @workflow.run
    async def run(self, wait_for_signal: bool) -> list[str]:
        timeout = timedelta(seconds=30)
        await workflow.execute_local_activity(
            hold_task, workflow.info().workflow_id, start_to_close_timeout=timeout
        )
        if wait_for_signal:
            await workflow.wait_condition(lambda: bool(self.items))
        return self.items


@workflow.defn
class SignalExternal:
    """Signals another workflow by id (no run id) and reports whether that worked."""

    @workflow.run
    async def run(self, target_id: str, signal: str, arg: str) -> str:
        try:
            await workflow.get_external_workflow_handle(target_id).signal(signal, arg)
        except Exception as err:
            return f"signal failed: {type(err).__name__}({err})"
        return "signalled"


@workflow.defn
class CancelExternal:
    """Requests cancellation of another workflow by id and reports whether that worked."""

    @workflow.run
    async def run(self, target_id: str) -> str:
        try:
            await workflow.get_external_workflow_handle(target_id).cancel()
        except Exception as err:
            return f"cancel failed: {type(err).__name__}({err})"
        return "cancel requested"


COMPOSITION_WORKFLOWS = [ChildOutcome, GatedSignals, SignalExternal, CancelExternal]
