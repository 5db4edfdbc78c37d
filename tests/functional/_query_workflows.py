"""A workflow the query-delivery tests run on a real `temporalio` worker.

Kept free of test imports so the SDK's workflow sandbox can re-import this module cheaply.
"""

from __future__ import annotations

from temporalio import workflow


@workflow.defn
class NotesWorkflow:
    """Notes "started" when its first task runs, then every signalled note, until the note "finish"."""

    def __init__(self) -> None:
        self._notes: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        self._notes.append("started")
        await workflow.wait_condition(lambda: "finish" in self._notes)
        return self._notes

    @workflow.signal
    def note(self, text: str) -> None:
        self._notes.append(text)

    @workflow.query
    def notes(self) -> list[str]:
        return list(self._notes)
