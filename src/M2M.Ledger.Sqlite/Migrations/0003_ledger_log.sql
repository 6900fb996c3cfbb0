-- kind: expand
-- The durable log: one row per committed batch of compact binary records (LedgerLog.cs). The
-- writer projects its rows into accounts and transfers off the hot path and deletes them in the
-- same transaction; a clean stop leaves it empty. `ledger verify`/`balances` read both.
CREATE TABLE IF NOT EXISTS ledger_log (
    seq     INTEGER PRIMARY KEY,
    records BLOB NOT NULL
);
