"""The engine keeps only recently used runs and current-run ids in memory; the rest come from the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tempyral.clock import Clock
from tempyral.config import DynamicConfig
from tempyral.history import engine as engine_module
from tempyral.history.engine import HistoryEngine
from tempyral.history.mutable_state import ExecutionState
from tempyral.matching.engine import MatchingEngine
from tempyral.persistence.sqlite.store import SqliteStore


@asynccontextmanager
async def _engine_with_runs(path: Path, runs: int) -> AsyncIterator[HistoryEngine]:
    """An engine on a real store in which `runs` workflows (wf-N, run-N) were created."""
    store = SqliteStore(str(path))
    await store.open()
    clock = Clock()
    engine = HistoryEngine(store, MatchingEngine(clock.now), clock, DynamicConfig.from_pairs([]))
    try:
        for index in range(runs):
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
        yield engine
    finally:
        await store.close()


async def test_forgotten_current_runs_are_read_back_from_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "CURRENT_RUNS_CACHED", 2)
    async with _engine_with_runs(tmp_path / "current.db", 5) as engine:
        assert len(engine._current) == 2  # only the two most recent stay in memory
        for index in range(5):
            assert await engine.current_run_id("ns", f"wf-{index}") == f"run-{index}"
        assert len(engine._current) == 2
        assert await engine.current_run_id("ns", "unknown") is None


async def test_the_run_cache_stays_bounded_and_reloads_from_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "CACHE_SIZE", 2)
    async with _engine_with_runs(tmp_path / "cache.db", 5) as engine:
        assert len(engine._cache) == 2
        loaded = await engine.load("ns", "wf-0", "run-0")  # evicted long ago: read back from the store
        assert loaded.state.workflow_id == "wf-0"
        assert len(engine._cache) == 2
