-- 0008_presence: agents' heartbeats (their last contact between
-- inventories) and the trusted networks, where agents may scan and listen.

-- One row per heartbeat; ReplacingMergeTree(received_at) keeps the latest
-- per agent once merged, and readers take argMax themselves.
CREATE TABLE IF NOT EXISTS agent_heartbeats (
    agent_id String,
    received_at DateTime('UTC'),
    sent_at DateTime('UTC'),
    agent_version String,
    uptime_seconds Int64,
    spool_records Int64,
    spool_bytes Int64,
    dropped_records Int64,
    trusted Int8,
    network String,
    remote_addr String
) ENGINE = ReplacingMergeTree(received_at)
ORDER BY agent_id;

-- Every change is a new row with a greater version; a removal is a row
-- with deleted = 1.
CREATE TABLE IF NOT EXISTS trusted_networks (
    rule_id String,
    kind String,
    value String,
    note String,
    created_at DateTime('UTC'),
    created_by String,
    deleted UInt8,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY rule_id;
