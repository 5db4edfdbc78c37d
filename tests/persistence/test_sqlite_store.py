"""The SQLite store on a real file: atomic execution writes, the outbox, migrations, reopening."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tempyral.persistence.records import ExecutionWrite, NamespaceRow, TaskRow
from tempyral.persistence.sqlite.store import SqliteStore, migrate


def write(
    run_id: str, events: list[tuple[int, bytes]], tasks: list[TaskRow], **kwargs: object
) -> ExecutionWrite:
    return ExecutionWrite("ns", "wf", run_id, b"state", new_events=events, upsert_tasks=tasks, **kwargs)  # type: ignore[arg-type]


async def test_commit_is_visible_after_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "t.db")
    store = SqliteStore(path)
    await store.open()
    timer = TaskRow("ns", "wf", "r1", "timer/1", fire_at=12.5)
    dispatch = TaskRow("ns", "wf", "r1", "wft/1", task_queue="q")
    await store.commit_execution(write("r1", [(1, b"e1"), (2, b"e2")], [timer, dispatch], make_current=True))
    await store.close()

    reopened = SqliteStore(path)
    await reopened.open()
    loaded = await reopened.load_execution("ns", "wf", "r1")
    assert loaded is not None and loaded.events == [b"e1", b"e2"]
    assert await reopened.current_run_id("ns", "wf") == "r1"
    assert sorted(await reopened.load_tasks(), key=lambda t: t.key) == [timer, dispatch]
    await reopened.close()


async def test_failed_job_does_not_undo_its_batch_neighbours(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "t.db"))
    await store.open()
    await store.commit_execution(write("r1", [(1, b"e1")], []))
    # Event 1 of r1 exists already: this write must fail alone, leaving r2's write intact.
    duplicate = store.commit_execution(write("r1", [(1, b"again")], []))
    other = store.commit_execution(write("r2", [(1, b"x")], []))
    results = await asyncio.gather(duplicate, other, return_exceptions=True)
    assert isinstance(results[0], sqlite3.IntegrityError) and results[1] is None
    assert (await store.load_execution("ns", "wf", "r2")) is not None
    loaded = await store.load_execution("ns", "wf", "r1")
    assert loaded is not None and loaded.events == [b"e1"]
    await store.close()


async def test_closing_a_run_drops_its_outbox(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "t.db"))
    await store.open()
    await store.commit_execution(write("r1", [], [TaskRow("ns", "wf", "r1", "timer/1", fire_at=1.0)]))
    await store.commit_execution(write("r1", [], [], delete_all_tasks=True))
    assert await store.load_tasks() == []
    await store.save_namespace(NamespaceRow("id1", "default", b"data"))
    assert [row.name for row in await store.list_namespaces()] == ["default"]
    await store.close()


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "m.db", isolation_level=None)
    migrate(conn)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == version >= 1
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"namespaces", "executions", "current_executions", "history_events", "tasks"} <= tables
    conn.close()
