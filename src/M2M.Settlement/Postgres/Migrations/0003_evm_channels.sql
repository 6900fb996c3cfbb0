-- kind: expand
-- EVM payment-channel state in the ledger's database, shared by every node (issue 15): the payer's channel
-- and cumulative amount per peer, the claim signed per settlement (a node resuming a dead node's settlement
-- re-sends the same claim), and per (peer, channel) the highest claim a peer sent us. Wei as decimal text.
CREATE TABLE IF NOT EXISTS evm_channels (
    peer_id        TEXT PRIMARY KEY,
    channel_id     TEXT NOT NULL,
    cumulative_wei TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evm_settlement_claims (
    settlement_id  TEXT PRIMARY KEY,
    peer_id        TEXT NOT NULL,
    channel_id     TEXT NOT NULL,
    cumulative_wei TEXT NOT NULL,
    signature      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS evm_claims (
    peer_id        TEXT NOT NULL,
    channel_id     TEXT NOT NULL,
    cumulative_wei TEXT NOT NULL,
    signature      TEXT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (peer_id, channel_id)
);
