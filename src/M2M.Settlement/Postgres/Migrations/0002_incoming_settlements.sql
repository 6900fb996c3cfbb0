-- kind: expand
-- RFC 38 incoming settlements: one row per (peer, Idempotency-Key) with what was credited, and the
-- sub-units finer than the account's scale that wait for the next settlement.
CREATE TABLE IF NOT EXISTS incoming_settlements (
    peer_id         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    amount          NUMERIC NOT NULL,
    scale           SMALLINT NOT NULL,
    credited        NUMERIC(20, 0) NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (peer_id, idempotency_key)
);
CREATE TABLE IF NOT EXISTS settlement_leftovers (
    peer_id TEXT PRIMARY KEY,
    amount  NUMERIC NOT NULL,
    scale   SMALLINT NOT NULL
);
