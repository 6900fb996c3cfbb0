-- kind: expand
-- Hosted agent accounts (issue 17): the STREAM server secret, accounts with a hashed API token, and payments sent by the send API.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, asset_code TEXT NOT NULL, asset_scale INTEGER NOT NULL,
    token_sha256 TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS payments (
    payment_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, client_id TEXT NOT NULL, receiver TEXT NOT NULL,
    source_amount TEXT NOT NULL, state TEXT NOT NULL, sent TEXT NOT NULL, delivered TEXT NOT NULL, in_flight TEXT NOT NULL,
    error TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
    UNIQUE (account_id, client_id));
