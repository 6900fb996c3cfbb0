-- kind: expand
-- The 2.0.0 ledger layout. Ids: UUID (16 big-endian bytes of the UInt128). Amounts: NUMERIC(39,0).
-- transfers.seq is the journal order; state is the pending state of pending transfers
-- (0 open, 1 posted, 2 voided, 3 expired), NULL for others. timeout_at: UTC ticks.
CREATE TABLE IF NOT EXISTS accounts (
    id              UUID PRIMARY KEY,
    ledger          BIGINT NOT NULL,
    code            INT NOT NULL,
    flags           INT NOT NULL,
    debit_limit     NUMERIC(39,0) NOT NULL CHECK (debit_limit >= 0),
    name            TEXT NOT NULL,
    debits_pending  NUMERIC(39,0) NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    debits_posted   NUMERIC(39,0) NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_pending NUMERIC(39,0) NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    credits_posted  NUMERIC(39,0) NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS transfers (
    seq               BIGSERIAL NOT NULL UNIQUE,
    id                UUID PRIMARY KEY,
    debit_account_id  UUID NOT NULL REFERENCES accounts (id),
    credit_account_id UUID NOT NULL REFERENCES accounts (id),
    amount            NUMERIC(39,0) NOT NULL CHECK (amount >= 0),
    pending_id        UUID NULL,
    ledger            BIGINT NOT NULL,
    code              INT NOT NULL,
    flags             INT NOT NULL,
    timeout_at        BIGINT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    state             SMALLINT NULL CHECK (state BETWEEN 0 AND 3)
);
CREATE INDEX IF NOT EXISTS transfers_open_by_timeout ON transfers (timeout_at) WHERE state = 0;
