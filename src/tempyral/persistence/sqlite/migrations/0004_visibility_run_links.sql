-- What list records show beyond 0002: the root and parent runs (not just their workflow ids) and the run's
-- state-transition count. New columns go last: rows are written positionally from VisibilityRow.
ALTER TABLE visibility ADD COLUMN root_run_id TEXT;
ALTER TABLE visibility ADD COLUMN parent_run_id TEXT;
ALTER TABLE visibility ADD COLUMN state_transition_count INTEGER NOT NULL DEFAULT 0;
