"""The entity workflow of the long-lived-entity crash test: it counts numbered `add` signals exactly once,
continues as new every CONTINUE_AS_NEW_AT history events carrying its state, answers a `state` query and
ends with its state on a `finish` signal.

Kept free of pytest imports because the workflow sandbox re-imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from temporalio import workflow

# History length (events) at which a run hands its state to the next one.
CONTINUE_AS_NEW_AT = 500


@dataclass
class EntityState:
    """What one run hands to the next. `seen` is a hex bitmap over 0..size-1: a resent signal whose first
    attempt was applied (answer lost to the kill) arrives twice and must be counted once."""

    size: int
    count: int = 0
    total: int = 0  # sum of the distinct numbers received
    duplicates: int = 0  # deliveries of a number already seen
    deliveries: int = 0  # every `add` handled, duplicates included
    run: int = 1  # this run's position in the chain
    seen: str = ""

    def bitmap(self) -> bytearray:
        return bytearray.fromhex(self.seen) if self.seen else bytearray((self.size + 7) // 8)


def has(bitmap: bytearray, number: int) -> bool:
    return bool(bitmap[number >> 3] & (1 << (number & 7)))


@workflow.defn
class EntityWorkflow:
    @workflow.init
    def __init__(self, state: EntityState) -> None:
        # Built in the constructor so that signals delivered with the run's first task find their handler.
        self._state = state
        self._seen = state.bitmap()
        self._finish = False

    @workflow.run
    async def run(self, state: EntityState) -> EntityState:
        await workflow.wait_condition(
            lambda: self._finish or workflow.info().get_current_history_length() >= CONTINUE_AS_NEW_AT
        )
        # The handlers are synchronous, so this holds at once; it keeps the state handed on complete should a
        # handler ever await. Signals that reach the server while the closing task is in flight make it
        # reject the completion (UNHANDLED_COMMAND) and deliver them in a new task: this code runs again.
        await workflow.wait_condition(workflow.all_handlers_finished)
        snapshot = self.state()
        if self._finish:
            return snapshot
        workflow.continue_as_new(replace(snapshot, run=snapshot.run + 1))

    @workflow.signal
    def add(self, number: int) -> None:
        state = self._state
        state.deliveries += 1
        if has(self._seen, number):
            state.duplicates += 1
            return
        self._seen[number >> 3] |= 1 << (number & 7)
        state.count += 1
        state.total += number

    @workflow.signal
    def finish(self) -> None:
        self._finish = True

    @workflow.query
    def state(self) -> EntityState:
        return replace(self._state, seen=self._seen.hex())
