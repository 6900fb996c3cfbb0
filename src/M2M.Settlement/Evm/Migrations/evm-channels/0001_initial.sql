-- kind: expand
-- The 2.0.0 payer-side EVM store (identical to the pre-migration-framework layout, so existing files adopt it unchanged).
CREATE TABLE IF NOT EXISTS channels (peer_id TEXT PRIMARY KEY, channel_id TEXT NOT NULL, cumulative_wei TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settlement_claims (
    settlement_id TEXT PRIMARY KEY, peer_id TEXT NOT NULL, channel_id TEXT NOT NULL, cumulative_wei TEXT NOT NULL, signature TEXT NOT NULL);
