-- kind: expand
-- The doubtful-post journal (issue 15; was doubtful-posts.journal beside the ledger): one row per Fulfill
-- answered T00 with its post's outcome unknown, kept until the books agree with that T00. The record is the
-- journal's JSON (ids and amount as decimal strings); resolved rows are removed when the journal compacts.
CREATE TABLE IF NOT EXISTS doubtful_posts (
    incoming_id TEXT PRIMARY KEY,
    record      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    resolved_at INTEGER,
    outcome     TEXT
);
