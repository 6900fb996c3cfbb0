-- kind: expand
-- The 2.0.0 receiver-side EVM claim store (identical to the pre-migration-framework layout, so existing files adopt it unchanged).
CREATE TABLE IF NOT EXISTS claims (
    peer_id TEXT NOT NULL, channel_id TEXT NOT NULL, cumulative_wei TEXT NOT NULL, signature TEXT NOT NULL,
    updated_at INTEGER NOT NULL, PRIMARY KEY (peer_id, channel_id));
