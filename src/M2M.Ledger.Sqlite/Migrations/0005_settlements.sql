-- kind: expand
-- Settlement state moves into the ledger file (issue 15; was settlements.db beside it), so a settlement
-- intent and the ledger reservation of its amount are written in one commit of the ledger's writer
-- (RELIABILITY.md rule 5). M2M.Settlement owns what the rows mean; the layout is settlements.db's
-- (M2M.Settlement/Migrations 0001-0003), so an existing file is copied in as is on first start.
CREATE TABLE IF NOT EXISTS settlements (
    id TEXT PRIMARY KEY, peer_id TEXT NOT NULL, method TEXT NOT NULL, amount INTEGER NOT NULL,
    token TEXT NOT NULL, state INTEGER NOT NULL, attempts INTEGER NOT NULL, last_error TEXT,
    reference TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS settlements_one_open_per_peer ON settlements (peer_id) WHERE state IN (0, 1);
CREATE TABLE IF NOT EXISTS incoming_settlements (
    peer_id TEXT NOT NULL, idempotency_key TEXT NOT NULL, amount TEXT NOT NULL, scale INTEGER NOT NULL,
    credited INTEGER NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (peer_id, idempotency_key));
CREATE TABLE IF NOT EXISTS settlement_leftovers (peer_id TEXT PRIMARY KEY, amount TEXT NOT NULL, scale INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS evm_channels (peer_id TEXT PRIMARY KEY, channel_id TEXT NOT NULL, cumulative_wei TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evm_settlement_claims (
    settlement_id TEXT PRIMARY KEY, peer_id TEXT NOT NULL, channel_id TEXT NOT NULL, cumulative_wei TEXT NOT NULL, signature TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evm_claims (
    peer_id TEXT NOT NULL, channel_id TEXT NOT NULL, cumulative_wei TEXT NOT NULL, signature TEXT NOT NULL,
    updated_at INTEGER NOT NULL, PRIMARY KEY (peer_id, channel_id));
