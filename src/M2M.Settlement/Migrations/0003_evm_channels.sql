-- kind: expand
-- EVM payment-channel state moves into the settlement store (issue 15), beside the settlement records it
-- belongs to: the payer's channel and cumulative amount per peer, the claim signed per settlement (a resend
-- sends the same one), and per (peer, channel) the highest claim a peer sent us. Wei as decimal text.
CREATE TABLE IF NOT EXISTS evm_channels (peer_id TEXT PRIMARY KEY, channel_id TEXT NOT NULL, cumulative_wei TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evm_settlement_claims (
    settlement_id TEXT PRIMARY KEY, peer_id TEXT NOT NULL, channel_id TEXT NOT NULL, cumulative_wei TEXT NOT NULL, signature TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS evm_claims (
    peer_id TEXT NOT NULL, channel_id TEXT NOT NULL, cumulative_wei TEXT NOT NULL, signature TEXT NOT NULL,
    updated_at INTEGER NOT NULL, PRIMARY KEY (peer_id, channel_id));
