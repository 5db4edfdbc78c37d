"""The history engine: lock an execution, let an operation decide, commit events + state + outbox in one
transaction, then (and only then) hand tasks to matching, arm timers and wake history long-polls."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from tempyral.clock import Clock
from tempyral.config import DynamicConfig
from tempyral.errors import HistoryLimitExceeded, NotFound, Unavailable
from tempyral.history import state_codec
from tempyral.history.execution import ExecutionContext
from tempyral.history.mutable_state import ExecutionState
from tempyral.history.ops.close_workflow import SERVER_IDENTITY, terminate_in_context
from tempyral.history.timer_queue import TimerQueue
from tempyral.history.updates import UpdateRegistry
from tempyral.matching.engine import MatchingEngine, TaskType
from tempyral.matching.task_queue import TaskRef
from tempyral.namespaces import NamespaceRegistry
from tempyral.persistence.records import ExecutionWrite, TaskRow
from tempyral.persistence.sqlite.store import SqliteStore
from tempyral.search_attributes import SearchAttributeRegistry
from tempyral.visibility.records import visibility_row

log = logging.getLogger(__name__)

ExecutionKey = tuple[str, str, str]
CACHE_SIZE = 20_000
CURRENT_RUNS_CACHED = 100_000
# How many busy entries (locked, or with waiters) eviction may step over to find idle ones.
_EVICTION_SLACK = 16


@dataclass
class CachedExecution:
    state: ExecutionState
    # Every history event of the run, serialized, in event-id order.
    events: list[bytes]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # History long-polls waiting for the next commit that adds events.
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    valid: bool = True

    def wake_waiters(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters.clear()


def task_type_of(key: str) -> TaskType:
    return "workflow" if key.startswith("wft/") else "activity"


TimerHandler = Callable[["HistoryEngine", TaskRow], Awaitable[None]]


class HistoryEngine:
    def __init__(
        self, store: SqliteStore, matching: MatchingEngine, clock: Clock, dynamic: DynamicConfig
    ) -> None:
        self.store = store
        self.matching = matching
        self.clock = clock
        self.dynamic = dynamic
        self._cache: OrderedDict[ExecutionKey, CachedExecution] = OrderedDict()
        self._loading: dict[ExecutionKey, asyncio.Future[CachedExecution]] = {}
        # Workflow id -> its current run, for the most recently used ids (the store has them all).
        self._current: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._workflow_id_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.timers = TimerQueue(clock, self._fire_timer)
        # Set by the server: starting children needs namespaces by id; checking commands needs the
        # custom search attributes.
        self.namespaces: NamespaceRegistry | None = None
        self.search_attributes: SearchAttributeRegistry | None = None
        self.updates = UpdateRegistry()
        self._timer_handler: TimerHandler | None = None

    def set_timer_handler(self, handler: TimerHandler) -> None:
        self._timer_handler = handler

    async def start(self) -> None:
        """Recover the outbox: every task not yet done goes back to matching or the timer queue."""
        for row in await self.store.load_tasks():
            self._release_task(row)
        self.timers.start()

    async def stop(self) -> None:
        await self.timers.stop()

    # -- finding executions ----------------------------------------------------------------------------

    async def current_run_id(self, namespace_id: str, workflow_id: str) -> str | None:
        key = (namespace_id, workflow_id)
        run_id = self._current.get(key)
        if run_id is not None:
            self._current.move_to_end(key)
            return run_id
        run_id = await self.store.current_run_id(namespace_id, workflow_id)
        if run_id is not None:
            # A commit while the store was read has the newer answer: keep it.
            run_id = self._current.setdefault(key, run_id)
            self._forget_old_current_runs()
        return run_id

    def _set_current(self, namespace_id: str, workflow_id: str, run_id: str) -> None:
        key = (namespace_id, workflow_id)
        self._current[key] = run_id
        self._current.move_to_end(key)
        self._forget_old_current_runs()

    def _forget_old_current_runs(self) -> None:
        while len(self._current) > CURRENT_RUNS_CACHED:
            self._current.popitem(last=False)

    async def resolve_run_id(self, namespace_id: str, workflow_id: str, run_id: str) -> str:
        if run_id:
            return run_id
        current = await self.current_run_id(namespace_id, workflow_id)
        if current is None:
            raise NotFound(f"workflow not found for ID: {workflow_id}")
        return current

    async def load(self, namespace_id: str, workflow_id: str, run_id: str) -> CachedExecution:
        """The cached execution, loading it on a miss; NotFound if it does not exist."""
        key = (namespace_id, workflow_id, run_id)
        entry = self._cache.get(key)
        if entry is not None:
            self._cache.move_to_end(key)
            return entry
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[CachedExecution] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            loaded = await self.store.load_execution(*key)
            if loaded is None:
                raise NotFound(
                    f'workflow execution not found for workflow ID "{workflow_id}" and run ID "{run_id}"'
                )
            entry = CachedExecution(state_codec.loads(ExecutionState, loaded.state), loaded.events)
            self._insert(key, entry)
            future.set_result(entry)
            return entry
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # consumed here; waiters get it through shield
            raise
        finally:
            del self._loading[key]

    def _insert(self, key: ExecutionKey, entry: CachedExecution) -> None:
        self._cache[key] = entry
        excess = len(self._cache) - CACHE_SIZE
        if excess > 0:
            # Look at the oldest few only: copying the whole cache here made every insert O(cache size).
            oldest = list(itertools.islice(self._cache.items(), excess + _EVICTION_SLACK))
            for old_key, old in oldest:
                if excess <= 0:
                    break
                if not old.lock.locked() and not old.waiters:
                    self._evict(old_key)
                    excess -= 1

    def _evict(self, key: ExecutionKey) -> None:
        entry = self._cache.pop(key, None)
        if entry is not None:
            entry.valid = False
            entry.wake_waiters()

    @asynccontextmanager
    async def workflow_id_lock(self, namespace_id: str, workflow_id: str) -> AsyncIterator[None]:
        """Serialize what decides which run a workflow id points at (starts, ID policies)."""
        key = (namespace_id, workflow_id)
        lock = self._workflow_id_locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and self._workflow_id_locks.get(key) is lock:
                del self._workflow_id_locks[key]

    # -- changing executions ---------------------------------------------------------------------------

    @asynccontextmanager
    async def update_execution(
        self, namespace_id: str, workflow_id: str, run_id: str, count_limit_before: bool = False
    ) -> AsyncIterator[ExecutionContext]:
        """Lock the run, hand the operation an ExecutionContext, commit what it recorded when it returns.

        A change that would break the history limits is discarded and the run terminated instead. The
        event-count limit applies to the history after the change, or, with `count_limit_before` (requests
        from outside such as signals, as the real server does it), to the history before it.
        """
        while True:
            entry = await self.load(namespace_id, workflow_id, run_id)
            await entry.lock.acquire()
            if entry.valid:
                break
            entry.lock.release()
        key = (namespace_id, workflow_id, run_id)
        try:
            running_before = entry.state.running
            size_before = entry.state.history_size_bytes
            count_before = entry.state.next_event_id - 1
            context = ExecutionContext(state=entry.state, now=self.clock.now(), history=entry.events)
            try:
                yield context
            except BaseException:
                if context.dirty:
                    # The operation changed state and then failed: drop it, the store has the truth.
                    self._evict(key)
                raise
            if context.dirty:
                count = count_before if count_limit_before else context.state.next_event_id - 1
                limit = self._history_limit_reason(context, size_before, count) if running_before else None
                if limit is not None:
                    self._evict(key)
                    await self._terminate_for_history_limit(key, limit)
                    raise HistoryLimitExceeded(limit)
                await self._commit(entry, context)
        finally:
            entry.lock.release()

    def _history_limit_reason(self, context: ExecutionContext, size_before: int, count: int) -> str | None:
        """Why this change may not be committed: the history is already too large, or too long."""
        if size_before > self.dynamic.get_int("limit.historySize.error"):
            return "Workflow history size exceeds limit."
        if context.new_events and count > self.dynamic.get_int("limit.historyCount.error"):
            return "Workflow history count exceeds limit."
        return None

    async def _terminate_for_history_limit(self, key: ExecutionKey, reason: str) -> None:
        """Terminate the run from its committed state, in place of the change that was refused."""
        entry = await self.load(*key)
        async with entry.lock:
            if not entry.state.running:
                return
            context = ExecutionContext(state=entry.state, now=self.clock.now(), history=entry.events)
            terminate_in_context(context, reason, None, SERVER_IDENTITY)
            await self._commit(entry, context)

    @asynccontextmanager
    async def create_execution(self, state: ExecutionState) -> AsyncIterator[ExecutionContext]:
        """A new run: the caller fills the context, which is committed as the workflow id's current run."""
        entry = CachedExecution(state=state, events=[])
        async with entry.lock:
            context = ExecutionContext(
                state=state, now=state.start_time, history=entry.events, make_current=True
            )
            yield context
            await self._commit(entry, context)
            self._insert((state.namespace_id, state.workflow_id, state.run_id), entry)
            self._set_current(state.namespace_id, state.workflow_id, state.run_id)

    async def _commit(self, entry: CachedExecution, context: ExecutionContext) -> None:
        """Persist the change (and the next run of the chain, if one starts) in one transaction, then let
        its consequences out."""
        state = context.state
        writes = [_write_of(context)]
        next_run = context.next_run
        if next_run is not None:
            writes.append(_write_of(next_run))
        try:
            if len(writes) == 1:
                await self.store.commit_execution(writes[0])
            else:
                await self.store.commit_executions(writes)
        except Exception as err:
            self._evict((state.namespace_id, state.workflow_id, state.run_id))
            log.exception("commit failed for %s/%s", state.workflow_id, state.run_id)
            raise Unavailable("persistence failure, please retry") from err
        self._committed(entry, context, writes[0])
        for effect in context.after_commit:
            effect()
        if context.closed:
            self.updates.close_run((state.namespace_id, state.workflow_id, state.run_id))
        if next_run is not None:
            new_state = next_run.state
            new_entry = CachedExecution(state=new_state, events=[])
            self._insert((new_state.namespace_id, new_state.workflow_id, new_state.run_id), new_entry)
            self._set_current(new_state.namespace_id, new_state.workflow_id, new_state.run_id)
            self._committed(new_entry, next_run, writes[1])

    def _committed(self, entry: CachedExecution, context: ExecutionContext, write: ExecutionWrite) -> None:
        entry.events.extend(data for _, data in write.new_events)
        for row in context.upsert_tasks.values():
            self._release_task(row)
        if write.new_events:
            entry.wake_waiters()

    def _release_task(self, row: TaskRow) -> None:
        if row.fire_at is not None:
            self.timers.schedule(row)
        else:
            ref = TaskRef(row.namespace_id, row.workflow_id, row.run_id, row.key)
            self.matching.add_task(task_type_of(row.key), row.task_queue, ref)

    async def _fire_timer(self, row: TaskRow) -> None:
        assert self._timer_handler is not None
        try:
            await self._timer_handler(self, row)
        except NotFound:
            pass  # the run was deleted: its timers went with it
        except HistoryLimitExceeded:
            pass  # the run was terminated instead

    # -- reading ---------------------------------------------------------------------------------------

    async def wait_for_events(
        self, namespace_id: str, workflow_id: str, run_id: str, after_event_count: int, timeout: float
    ) -> CachedExecution:
        """The run once it has more than `after_event_count` events, or as it is after `timeout` seconds.

        Always returns the current cache entry: one evicted meanwhile (say, a change was refused and the
        run reloaded) wakes its waiters so that they look again.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            entry = await self.load(namespace_id, workflow_id, run_id)
            remaining = deadline - loop.time()
            if len(entry.events) > after_event_count or remaining <= 0:
                return entry
            waiter: asyncio.Future[None] = loop.create_future()
            entry.waiters.append(waiter)
            try:
                await asyncio.wait((waiter,), timeout=remaining)
            finally:
                if waiter in entry.waiters:
                    entry.waiters.remove(waiter)

    async def delete_execution(self, namespace_id: str, workflow_id: str, run_id: str) -> None:
        key = (namespace_id, workflow_id, run_id)
        entry = await self.load(*key)
        async with entry.lock:
            await self.store.delete_execution(*key)
            self._evict(key)
            if self._current.get((namespace_id, workflow_id)) == run_id:
                del self._current[(namespace_id, workflow_id)]
            entry.wake_waiters()


def _write_of(context: ExecutionContext) -> ExecutionWrite:
    state = context.state
    state.state_transition_count += 1
    return ExecutionWrite(
        namespace_id=state.namespace_id,
        workflow_id=state.workflow_id,
        run_id=state.run_id,
        state=state_codec.dumps(state),
        new_events=[(event.event_id, event.SerializeToString()) for event in context.new_events],
        upsert_tasks=list(context.upsert_tasks.values()),
        delete_task_keys=sorted(context.delete_task_keys),
        delete_all_tasks=context.closed,
        make_current=context.make_current,
        # Started, closed or re-tagged: lists must show it as it now is, from this same transaction.
        visibility=visibility_row(state) if _listing_changed(context) else None,
    )


def _listing_changed(context: ExecutionContext) -> bool:
    # A closed run's rare later commits (handing its outcome to a parent) still count as state transitions,
    # which lists show.
    return context.make_current or context.closed or context.visibility_changed or not context.state.running
