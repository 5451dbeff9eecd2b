-- 0009_reconcile_incremental: what incremental reconciliation reads and
-- writes, so a run costs what arrived since the last one rather than every
-- observation ever stored.

-- The observations in order of arrival: a materialized view copies every
-- row inserted into observations (what reconciliation needs of it), so a
-- run reads the rows received since its watermark through the primary key
-- instead of scanning observations. Rows of a retried report appear twice;
-- readers skip report ids they applied already.
CREATE TABLE IF NOT EXISTS observation_feed (
    received_at DateTime('UTC'),
    observed_at DateTime('UTC'),
    report_id String,
    idx UInt32,
    observer String,
    method {{.LowCardinalityString}},
    ip String,
    mac String,
    hostname String,
    vendor String,
    serial String,
    via String,
    port String,
    kinds Array(String),
    evidence_keys Array(String),
    evidence_values Array(String)
) ENGINE = MergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (received_at, report_id, idx);

CREATE MATERIALIZED VIEW IF NOT EXISTS observation_feed_mv TO observation_feed AS
SELECT received_at, observed_at, report_id, idx, observer, method, ip, mac, hostname, vendor, serial, via, port, kinds,
    evidence_keys, evidence_values
FROM observations;

-- Observations stored before this migration: those received before the
-- first row the view copied (all of them when it copied none yet). A rerun
-- after this statement finds nothing older than the rows it copied.
INSERT INTO observation_feed (received_at, observed_at, report_id, idx, observer, method, ip, mac, hostname, vendor, serial, via, port,
    kinds, evidence_keys, evidence_values)
SELECT received_at, observed_at, report_id, idx, observer, method, ip, mac, hostname, vendor, serial, via, port, kinds,
    evidence_keys, evidence_values
FROM observations FINAL
WHERE received_at < (SELECT if(count() = 0, toDateTime('2106-01-01 00:00:00', 'UTC'), min(received_at)) FROM observation_feed);

-- The current devices: one row per device and change (the version is the
-- run's generation); a device merged into another gets a row with deleted =
-- 1. Readers take the latest row of each device (FINAL). identifiers and
-- evidence are JSON: what explain shows, written with the device.
CREATE TABLE IF NOT EXISTS device_current (
    device_id String,
    version UInt64,
    deleted UInt8,
    first_seen DateTime('UTC'),
    last_seen DateTime('UTC'),
    hostnames Array(String),
    vendor String,
    kinds Array(String),
    ips Array(String),
    macs Array(String),
    serials Array(String),
    agents Array(String),
    observers Array(String),
    methods Array(String),
    subnets Array(String),
    switch_ports Array(String),
    anonymous UInt8,
    observations UInt64,
    identifiers String,
    evidence String
) ENGINE = ReplacingMergeTree(version)
ORDER BY device_id;
