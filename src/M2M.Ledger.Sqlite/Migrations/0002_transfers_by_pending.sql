-- kind: expand
-- Finds the post or void of a pending transfer without a scan (audits, `ledger verify` on large journals).
CREATE INDEX IF NOT EXISTS transfers_by_pending_id ON transfers (pending_id) WHERE pending_id IS NOT NULL;
