-- kind: expand
-- The 2.0.0 ledger layout (identical to the pre-migration-framework schema, so existing files adopt it unchanged).
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER NOT NULL,
    applied_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    id              TEXT PRIMARY KEY,
    ledger          INTEGER NOT NULL,
    code            INTEGER NOT NULL,
    flags           INTEGER NOT NULL,
    debit_limit     TEXT NOT NULL,
    name            TEXT NOT NULL,
    debits_pending  TEXT NOT NULL,
    debits_posted   TEXT NOT NULL,
    credits_pending TEXT NOT NULL,
    credits_posted  TEXT NOT NULL,
    created_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS transfers (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    debit_account_id  TEXT NOT NULL,
    credit_account_id TEXT NOT NULL,
    amount            TEXT NOT NULL,
    pending_id        TEXT,
    ledger            INTEGER NOT NULL,
    code              INTEGER NOT NULL,
    flags             INTEGER NOT NULL,
    timeout_at        INTEGER,
    pending_state     INTEGER,
    created_at        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS transfers_open_pending ON transfers (timeout_at) WHERE pending_state = 0;
