-- kind: expand
-- RFC 38 incoming settlements: one row per (peer, Idempotency-Key) with what was credited, and the
-- sub-units finer than the account's scale that wait for the next settlement.
CREATE TABLE IF NOT EXISTS incoming_settlements (
    peer_id TEXT NOT NULL, idempotency_key TEXT NOT NULL, amount TEXT NOT NULL, scale INTEGER NOT NULL,
    credited INTEGER NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (peer_id, idempotency_key));
CREATE TABLE IF NOT EXISTS settlement_leftovers (peer_id TEXT PRIMARY KEY, amount TEXT NOT NULL, scale INTEGER NOT NULL);
