-- Namespaces: the proto-encoded namespace record, looked up by name and id.
CREATE TABLE namespaces (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    data BLOB NOT NULL
);

-- One row per run: the mutable-state snapshot, rewritten with every state change.
CREATE TABLE executions (
    namespace_id TEXT NOT NULL,
    workflow_id  TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    state        BLOB NOT NULL,
    PRIMARY KEY (namespace_id, workflow_id, run_id)
) WITHOUT ROWID;

-- The run a workflow id currently points at (the newest run, open or closed).
CREATE TABLE current_executions (
    namespace_id TEXT NOT NULL,
    workflow_id  TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    PRIMARY KEY (namespace_id, workflow_id)
) WITHOUT ROWID;

-- History events, each a serialized temporal.api.history.v1.HistoryEvent.
CREATE TABLE history_events (
    run_id   TEXT    NOT NULL,
    event_id INTEGER NOT NULL,
    data     BLOB    NOT NULL,
    PRIMARY KEY (run_id, event_id)
) WITHOUT ROWID;

-- The outbox: internal tasks written in the same transaction as the state change that created them.
-- fire_at NULL: a task waiting in a task queue for a poller; otherwise a timer due at fire_at (epoch s).
CREATE TABLE tasks (
    run_id       TEXT NOT NULL,
    task_key     TEXT NOT NULL,
    namespace_id TEXT NOT NULL,
    workflow_id  TEXT NOT NULL,
    task_queue   TEXT NOT NULL,
    fire_at      REAL,
    PRIMARY KEY (run_id, task_key)
) WITHOUT ROWID;
