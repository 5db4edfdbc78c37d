"""The engine remembers the current run of recently used workflow ids only; the rest come from the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tempyral.clock import Clock
from tempyral.config import DynamicConfig
from tempyral.history import engine as engine_module
from tempyral.history.engine import HistoryEngine
from tempyral.history.mutable_state import ExecutionState
from tempyral.matching.engine import MatchingEngine
from tempyral.persistence.sqlite.store import SqliteStore


async def test_forgotten_current_runs_are_read_back_from_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "CURRENT_RUNS_CACHED", 2)
    store = SqliteStore(str(tmp_path / "current.db"))
    await store.open()
    clock = Clock()
    engine = HistoryEngine(store, MatchingEngine(clock.now), clock, DynamicConfig.from_pairs([]))
    try:
        for index in range(5):
            state = ExecutionState(
                namespace_id="ns",
                workflow_id=f"wf-{index}",
                run_id=f"run-{index}",
                workflow_type="T",
                task_queue="q",
                start_time=clock.now(),
                first_run_id=f"run-{index}",
            )
            async with engine.create_execution(state) as ctx:
                ctx.touch()
        assert len(engine._current) == 2  # only the two most recent stay in memory
        for index in range(5):
            assert await engine.current_run_id("ns", f"wf-{index}") == f"run-{index}"
        assert len(engine._current) == 2
        assert await engine.current_run_id("ns", "unknown") is None
    finally:
        await store.close()


async def test_the_run_cache_stays_bounded_and_reloads_from_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "CACHE_SIZE", 2)
    store = SqliteStore(str(tmp_path / "cache.db"))
    await store.open()
    clock = Clock()
    engine = HistoryEngine(store, MatchingEngine(clock.now), clock, DynamicConfig.from_pairs([]))
    try:
        for index in range(5):
            state = ExecutionState(
                namespace_id="ns",
                workflow_id=f"wf-{index}",
                run_id=f"run-{index}",
                workflow_type="T",
                task_queue="q",
                start_time=clock.now(),
                first_run_id=f"run-{index}",
            )
            async with engine.create_execution(state) as ctx:
                ctx.touch()
        assert len(engine._cache) == 2
        loaded = await engine.load("ns", "wf-0", "run-0")  # evicted long ago: read back from the store
        assert loaded.state.workflow_id == "wf-0"
        assert len(engine._cache) == 2
    finally:
        await store.close()
