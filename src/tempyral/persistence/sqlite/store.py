"""SQLite store: one writer thread owns the connection and commits every queued job in one transaction.

Batching is what makes durability cheap: while one batch is being fsynced, new jobs queue up and go into the
next transaction together (group commit), so many executions share one fsync.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import astuple
from importlib import resources
from typing import IO, Any, TypeVar

from tempyral.persistence.records import ExecutionWrite, LoadedExecution, NamespaceRow, TaskRow

log = logging.getLogger(__name__)

T = TypeVar("T")
Job = tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]

_STOP = object()


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("tempyral.persistence.sqlite") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text()))
    return sorted(found)


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the numbered migrations the database has not seen yet (tracked in PRAGMA user_version)."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in _migrations():
        if number > current:
            conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")
            log.info("applied migration %04d", number)


class DatabaseInUse(Exception):
    """Another live process has the database open: two writers would each believe their cache is the truth."""


class SqliteStore:
    """Persistence on one SQLite database file (or in memory when `path` is None)."""

    def __init__(self, path: str | None, pragmas: Iterable[str] = ()) -> None:
        self._path = path or ":memory:"
        self._pragmas = list(pragmas)
        self._jobs: queue.SimpleQueue[Job | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._open_error: BaseException | None = None
        self._lock_file: IO[bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    async def open(self) -> None:
        if _is_file_path(self._path):
            self._lock_file = _exclusive_lock(self._path)
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self._thread.start()
        await asyncio.to_thread(self._ready.wait)
        if self._open_error is not None:
            raise self._open_error

    async def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(_STOP)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock (the OS also does, should the process die)
            self._lock_file = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        if self._path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before anyone is told it happened.
        conn.execute("PRAGMA synchronous=FULL")
        for pragma in self._pragmas:
            name, _, value = pragma.partition("=")
            if not name.replace("_", "").isalnum() or not value.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"invalid sqlite pragma {pragma!r}")
            conn.execute(f"PRAGMA {name}={value}")
        migrate(conn)
        return conn

    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as err:
            self._open_error = err
            self._ready.set()
            return
        self._ready.set()
        while True:
            first = self._jobs.get()
            if first is _STOP:
                break
            batch: list[Job] = [first]  # type: ignore[list-item]
            stop = False
            while True:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)  # type: ignore[arg-type]
            self._run_batch(conn, batch)
            if stop:
                break
        conn.close()

    def _run_batch(self, conn: sqlite3.Connection, batch: list[Job]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, future in batch:
                # A savepoint per job: one failing job must not undo the others in the batch.
                conn.execute("SAVEPOINT job")
                try:
                    result = fn(conn)
                    conn.execute("RELEASE job")
                    outcomes.append((future, result, None))
                except Exception as err:
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((future, None, err))
            conn.execute("COMMIT")
        except Exception as err:
            log.exception("sqlite batch failed")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(future, None, err) for _, future in batch]
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_resolve_all, outcomes)

    async def _submit(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        assert self._loop is not None, "store is not open"
        future: asyncio.Future[T] = self._loop.create_future()
        self._jobs.put((fn, future))
        return await future

    # -- executions ------------------------------------------------------------------------------------

    async def commit_execution(self, write: ExecutionWrite) -> None:
        await self._submit(lambda conn: _write_execution(conn, write))

    async def commit_executions(self, writes: list[ExecutionWrite]) -> None:
        """Several runs' changes in one transaction (a run closing and the next run of its chain)."""

        def write_all(conn: sqlite3.Connection) -> None:
            for write in writes:
                _write_execution(conn, write)

        await self._submit(write_all)

    async def load_execution(
        self, namespace_id: str, workflow_id: str, run_id: str
    ) -> LoadedExecution | None:
        def load(conn: sqlite3.Connection) -> LoadedExecution | None:
            row = conn.execute(
                "SELECT state FROM executions WHERE namespace_id=? AND workflow_id=? AND run_id=?",
                (namespace_id, workflow_id, run_id),
            ).fetchone()
            if row is None:
                return None
            events = conn.execute(
                "SELECT data FROM history_events WHERE run_id=? ORDER BY event_id", (run_id,)
            ).fetchall()
            return LoadedExecution(state=row[0], events=[e[0] for e in events])

        return await self._submit(load)

    async def current_run_id(self, namespace_id: str, workflow_id: str) -> str | None:
        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT run_id FROM current_executions WHERE namespace_id=? AND workflow_id=?",
                (namespace_id, workflow_id),
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._submit(read)

    async def delete_execution(self, namespace_id: str, workflow_id: str, run_id: str) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM executions WHERE namespace_id=? AND workflow_id=? AND run_id=?",
                (namespace_id, workflow_id, run_id),
            )
            conn.execute("DELETE FROM history_events WHERE run_id=?", (run_id,))
            conn.execute("DELETE FROM tasks WHERE run_id=?", (run_id,))
            conn.execute(
                "DELETE FROM visibility WHERE namespace_id=? AND workflow_id=? AND run_id=?",
                (namespace_id, workflow_id, run_id),
            )
            conn.execute(
                "DELETE FROM current_executions WHERE namespace_id=? AND workflow_id=? AND run_id=?",
                (namespace_id, workflow_id, run_id),
            )

        await self._submit(delete)

    async def load_tasks(self) -> list[TaskRow]:
        def read(conn: sqlite3.Connection) -> list[TaskRow]:
            rows = conn.execute(
                "SELECT namespace_id, workflow_id, run_id, task_key, task_queue, fire_at FROM tasks"
            ).fetchall()
            return [TaskRow(*row) for row in rows]

        return await self._submit(read)

    # -- visibility -----------------------------------------------------------------------------------

    async def list_visibility(
        self, namespace_id: str, where: str, params: list[object], order_by: str, limit: int, offset: int
    ) -> list[tuple[Any, ...]]:
        """Visibility rows matching a WHERE clause built by visibility.query (never from raw input)."""

        def read(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            sql = (
                f"SELECT * FROM visibility WHERE namespace_id=? AND ({where}) "
                f"ORDER BY {order_by} LIMIT ? OFFSET ?"
            )
            return conn.execute(sql, [namespace_id, *params, limit, offset]).fetchall()

        return await self._submit(read)

    async def count_visibility(
        self, namespace_id: str, where: str, params: list[object], group_by_status: bool
    ) -> list[tuple[int, int]]:
        """(status, count) per status when grouping, else [(0, total)]."""

        def read(conn: sqlite3.Connection) -> list[tuple[int, int]]:
            selected = "status, COUNT(*)" if group_by_status else "0, COUNT(*)"
            sql = f"SELECT {selected} FROM visibility WHERE namespace_id=? AND ({where})"
            if group_by_status:
                sql += " GROUP BY status"
            return [(int(a), int(b)) for a, b in conn.execute(sql, [namespace_id, *params]).fetchall()]

        return await self._submit(read)

    # -- search attributes ----------------------------------------------------------------------------

    async def list_search_attributes(self) -> list[tuple[str, str, int]]:
        def read(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
            return [
                tuple(row)
                for row in conn.execute("SELECT namespace, name, value_type FROM search_attributes")
            ]

        return await self._submit(read)

    async def save_search_attribute(self, namespace: str, name: str, value_type: int | None) -> None:
        """Register (or, with value_type None, remove) a custom search attribute."""

        def write(conn: sqlite3.Connection) -> None:
            if value_type is None:
                conn.execute("DELETE FROM search_attributes WHERE namespace=? AND name=?", (namespace, name))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO search_attributes (namespace, name, value_type) VALUES (?, ?, ?)",
                    (namespace, name, value_type),
                )

        await self._submit(write)

    # -- namespaces ------------------------------------------------------------------------------------

    async def list_namespaces(self) -> list[NamespaceRow]:
        def read(conn: sqlite3.Connection) -> list[NamespaceRow]:
            rows = conn.execute("SELECT id, name, data FROM namespaces ORDER BY name").fetchall()
            return [NamespaceRow(*row) for row in rows]

        return await self._submit(read)

    async def save_namespace(self, row: NamespaceRow) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO namespaces (id, name, data) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET name=excluded.name, data=excluded.data",
                (row.id, row.name, row.data),
            )

        await self._submit(write)

    async def mark_namespace_deleted(self, row: NamespaceRow, old_name: str) -> None:
        """Store a namespace renamed and marked deleted, and drop the search attributes registered under
        its old name, in one transaction: a namespace re-created under that name starts with none."""

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE namespaces SET name=?, data=? WHERE id=?", (row.name, row.data, row.id))
            conn.execute("DELETE FROM search_attributes WHERE namespace=?", (old_name,))

        await self._submit(write)

    async def namespace_runs(self, namespace_id: str) -> list[tuple[str, str]]:
        """(workflow id, run id) of every run stored in a namespace."""

        def read(conn: sqlite3.Connection) -> list[tuple[str, str]]:
            rows = conn.execute(
                "SELECT workflow_id, run_id FROM executions WHERE namespace_id=?", (namespace_id,)
            ).fetchall()
            return [(str(workflow_id), str(run_id)) for workflow_id, run_id in rows]

        return await self._submit(read)

    async def delete_namespace(self, namespace_id: str) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM namespaces WHERE id=?", (namespace_id,))

        await self._submit(delete)


def _write_execution(conn: sqlite3.Connection, write: ExecutionWrite) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO executions (namespace_id, workflow_id, run_id, state) VALUES (?, ?, ?, ?)",
        (write.namespace_id, write.workflow_id, write.run_id, write.state),
    )
    if write.new_events:
        conn.executemany(
            "INSERT INTO history_events (run_id, event_id, data) VALUES (?, ?, ?)",
            [(write.run_id, event_id, data) for event_id, data in write.new_events],
        )
    if write.delete_all_tasks:
        conn.execute("DELETE FROM tasks WHERE run_id=?", (write.run_id,))
    elif write.delete_task_keys:
        conn.executemany(
            "DELETE FROM tasks WHERE run_id=? AND task_key=?",
            [(write.run_id, key) for key in write.delete_task_keys],
        )
    if write.upsert_tasks:
        conn.executemany(
            "INSERT OR REPLACE INTO tasks (run_id, task_key, namespace_id, workflow_id, task_queue, fire_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (t.run_id, t.key, t.namespace_id, t.workflow_id, t.task_queue, t.fire_at)
                for t in write.upsert_tasks
            ],
        )
    if write.visibility is not None:
        row = astuple(write.visibility)
        conn.execute(f"INSERT OR REPLACE INTO visibility VALUES ({', '.join('?' * len(row))})", row)
    if write.make_current:
        conn.execute(
            "INSERT OR REPLACE INTO current_executions (namespace_id, workflow_id, run_id) VALUES (?, ?, ?)",
            (write.namespace_id, write.workflow_id, write.run_id),
        )


def _resolve_all(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in outcomes:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


def _is_file_path(path: str) -> bool:
    return path != ":memory:" and not path.startswith("file:")


def _exclusive_lock(path: str) -> IO[bytes]:
    """Hold an exclusive lock on `<path>.lock` for as long as the store is open."""
    lock_file = open(f"{path}.lock", "ab")  # kept open (and locked) until the store closes
    try:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        raise DatabaseInUse(f"database {path} is in use by another Tempyral process") from None
    return lock_file
