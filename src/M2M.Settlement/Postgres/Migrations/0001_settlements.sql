-- kind: expand
-- Settlement records in the PostgreSQL ledger's database, shared by every node. The partial unique
-- index keeps one open settlement per peer across all nodes; the lease says which node works it.
CREATE TABLE IF NOT EXISTS settlements (
    id              UUID PRIMARY KEY,
    peer_id         TEXT NOT NULL,
    method          TEXT NOT NULL,
    amount          NUMERIC(20, 0) NOT NULL,
    token           TEXT NOT NULL,
    state           SMALLINT NOT NULL,
    attempts        INT NOT NULL,
    last_error      TEXT,
    reference       TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_holder    TEXT,
    lease_until     TIMESTAMPTZ
);
CREATE UNIQUE INDEX IF NOT EXISTS settlements_one_open_per_peer ON settlements (peer_id) WHERE state IN (0, 1);
CREATE INDEX IF NOT EXISTS settlements_by_peer ON settlements (peer_id, created_at);
