-- kind: expand
-- The 2.0.0 settlement store (identical to the pre-migration-framework layout, so existing files adopt it unchanged).
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS settlements (
    id TEXT PRIMARY KEY, peer_id TEXT NOT NULL, method TEXT NOT NULL, amount INTEGER NOT NULL,
    token TEXT NOT NULL, state INTEGER NOT NULL, attempts INTEGER NOT NULL, last_error TEXT,
    reference TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS settlements_one_open_per_peer ON settlements (peer_id) WHERE state IN (0, 1);
