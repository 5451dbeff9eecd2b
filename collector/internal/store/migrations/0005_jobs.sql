-- 0005_jobs: scan jobs, their recurring schedules, and the SNMP credentials
-- jobs carry. Every change is a new row with a greater version;
-- ReplacingMergeTree(version) keeps the latest, and readers also keep the
-- greatest version themselves (FINAL does not merge across partitions on
-- every server).

CREATE TABLE IF NOT EXISTS scan_jobs (
    job_id String,
    created_at DateTime('UTC'),
    created_by String,
    schedule_id String,
    targets Array(String),
    methods Array(String),
    credentials Array(String),
    requested_agent String,
    agent_id String,
    state {{.LowCardinalityString}},
    rate UInt32,
    attempts UInt32,
    tried_agents Array(String),
    phase String,
    probed UInt64,
    total UInt64,
    found UInt64,
    percent Float64,
    eta_seconds Int64,
    reports UInt32,
    error String,
    started_at DateTime('UTC'),
    finished_at DateTime('UTC'),
    updated_at DateTime('UTC'),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY job_id;

CREATE TABLE IF NOT EXISTS scan_schedules (
    schedule_id String,
    created_at DateTime('UTC'),
    created_by String,
    targets Array(String),
    methods Array(String),
    credentials Array(String),
    requested_agent String,
    interval_seconds UInt64,
    deleted UInt8,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY schedule_id;

-- The secrets are kept in clear here: the collector must send them to the
-- agents. Protect the database like the collector's private key.
CREATE TABLE IF NOT EXISTS scan_credentials (
    name String,
    created_at DateTime('UTC'),
    created_by String,
    snmp_version String,
    community String,
    user String,
    auth_proto String,
    auth_pass String,
    priv_proto String,
    priv_pass String,
    deleted UInt8,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY name;
