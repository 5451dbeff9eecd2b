-- 0002_trust: credentials (agent credentials, admin tokens, enrolment
-- secrets), enrolled agents and the audit log.
-- Rows are never updated in place: a change (revocation, re-enrolment) is a
-- new row with a greater version, and ReplacingMergeTree(version) keeps the
-- latest. Reads use FINAL and filter only on the sorting key or on columns
-- that never change between versions of a row, so they are right on every
-- server version whether or not WHERE runs before FINAL merges.

CREATE TABLE IF NOT EXISTS credentials (
    cred_id String,
    kind String,
    name String,
    role String,
    agent_id String,
    secret_hash String,
    created_at DateTime('UTC'),
    created_by String,
    expires_at DateTime('UTC'),
    max_uses UInt32,
    issued_by String,
    revoked UInt8,
    revoked_at DateTime('UTC'),
    revoked_by String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY cred_id;

CREATE TABLE IF NOT EXISTS agents (
    agent_id String,
    machine_key String,
    hostname String,
    os String,
    agent_version String,
    cred_id String,
    enrolled_by String,
    remote_addr String,
    first_enrolled_at DateTime('UTC'),
    enrolled_at DateTime('UTC'),
    revoked UInt8,
    revoked_at DateTime('UTC'),
    revoked_by String,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY agent_id;

CREATE TABLE IF NOT EXISTS audit_log (
    at DateTime('UTC'),
    event_id String,
    actor String,
    actor_kind String,
    action String,
    target String,
    outcome String,
    remote_addr String,
    detail String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, event_id);
