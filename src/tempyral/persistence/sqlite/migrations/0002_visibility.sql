-- Visibility: one row per run, rewritten in the same transaction whenever what lists show changes
-- (start, close, search-attribute and memo upserts), so lists never lag behind history.
CREATE TABLE visibility (
    namespace_id        TEXT    NOT NULL,
    workflow_id         TEXT    NOT NULL,
    run_id              TEXT    NOT NULL,
    workflow_type       TEXT    NOT NULL,
    status              INTEGER NOT NULL,
    start_time          REAL    NOT NULL,
    close_time          REAL,
    execution_time      REAL,
    execution_duration  REAL,
    task_queue          TEXT    NOT NULL,
    history_length      INTEGER NOT NULL,
    history_size_bytes  INTEGER NOT NULL,
    parent_workflow_id  TEXT,
    root_workflow_id    TEXT,
    -- Search attributes decoded for querying: JSON object name -> value (Datetime as epoch seconds).
    search_attributes   TEXT    NOT NULL DEFAULT '{}',
    -- The serialized Memo and SearchAttributes protos, returned as they are.
    memo_raw            BLOB,
    search_attributes_raw BLOB,
    PRIMARY KEY (namespace_id, workflow_id, run_id)
) WITHOUT ROWID;

CREATE INDEX visibility_by_start ON visibility (namespace_id, start_time DESC);
CREATE INDEX visibility_by_status ON visibility (namespace_id, status, start_time DESC);
