-- 0004_register: the asset register (ITIL), the software catalogue, and
-- what reconciliation derives: devices (the identifier graph), findings and
-- their acknowledgements, and operator splits of wrong merges.
-- Register rows are versioned: every change is a new row whose sorting key
-- includes the version, so no version is ever collapsed and the lifecycle
-- history is the list of an asset's rows; the current state is the row with
-- the greatest version (LIMIT 1 BY asset_id). Dates that are unset are the
-- epoch.

CREATE TABLE IF NOT EXISTS assets (
    asset_id String,
    version UInt64,
    tag String,
    name String,
    category {{.LowCardinalityString}},
    serial String,
    macs Array(String),
    hostname String,
    owner String,
    location String,
    cost_cents Int64,
    currency String,
    purchase_date DateTime('UTC'),
    warranty_end DateTime('UTC'),
    lifecycle {{.LowCardinalityString}},
    expect_agent UInt8,
    notes String,
    source String,
    disposal_outcome String,
    wipe_method String,
    wipe_certificate String,
    disposal_by String,
    disposal_at DateTime('UTC'),
    action String,
    reason String,
    changed_by String,
    changed_at DateTime('UTC'),
    created_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(version)
ORDER BY (asset_id, version);

-- The software catalogue: approve or deny by name, publisher and source
-- (dpkg, rpm, msi, …) glob patterns; an approval may carry the number of
-- licences owned (entitlements, 0: unlimited).
CREATE TABLE IF NOT EXISTS software_rules (
    rule_id String,
    version UInt64,
    decision {{.LowCardinalityString}},
    name_pattern String,
    publisher_pattern String,
    source_pattern String,
    entitlements UInt32,
    note String,
    deleted UInt8,
    changed_by String,
    changed_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(version)
ORDER BY rule_id;

-- One row per reconciliation run; readers use the devices of the latest
-- finished generation. Each run writes its devices into a partition of its
-- own generation and drops the partitions of older ones.
CREATE TABLE IF NOT EXISTS reconcile_runs (
    generation UInt64,
    started_at DateTime('UTC'),
    finished_at DateTime('UTC'),
    observations UInt64,
    devices UInt64,
    findings_open UInt64,
    trigger String
) ENGINE = ReplacingMergeTree
ORDER BY generation;

CREATE TABLE IF NOT EXISTS devices (
    generation UInt64,
    device_id String,
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
    observations UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY generation
ORDER BY device_id;

-- Which identifiers a device holds, and the evidence that tied them: one
-- row per distinct set of identifiers an observation tied together (or a
-- link that was refused, and why).
CREATE TABLE IF NOT EXISTS device_identifiers (
    generation UInt64,
    device_id String,
    identifier String,
    first_seen DateTime('UTC'),
    last_seen DateTime('UTC')
) ENGINE = ReplacingMergeTree
PARTITION BY generation
ORDER BY (device_id, identifier);

CREATE TABLE IF NOT EXISTS device_evidence (
    generation UInt64,
    device_id String,
    idx UInt32,
    tied Array(String),
    outcome String,
    method String,
    observer String,
    report_id String,
    obs_idx UInt32,
    first_seen DateTime('UTC'),
    last_seen DateTime('UTC'),
    count UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY generation
ORDER BY (device_id, idx);

CREATE TABLE IF NOT EXISTS device_splits (
    split_id String,
    version UInt64,
    identifiers Array(String),
    reason String,
    deleted UInt8,
    changed_by String,
    changed_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(version)
ORDER BY split_id;

-- Findings keep their id across runs (a hash of kind and subject), so a
-- finding on unchanged data never flaps; a run writes a row only when
-- something changed.
CREATE TABLE IF NOT EXISTS findings (
    finding_id String,
    version UInt64,
    kind {{.LowCardinalityString}},
    subject String,
    state {{.LowCardinalityString}},
    severity {{.LowCardinalityString}},
    title String,
    why String,
    first_seen DateTime('UTC'),
    last_seen DateTime('UTC'),
    opened_at DateTime('UTC'),
    resolved_at DateTime('UTC'),
    device_id String,
    asset_id String,
    seen_by Array(String),
    methods Array(String),
    subnets Array(String),
    switch_ports Array(String),
    ips Array(String),
    macs Array(String),
    hostnames Array(String),
    vendor String,
    kinds Array(String),
    count UInt64,
    digest String
) ENGINE = ReplacingMergeTree(version)
ORDER BY finding_id;

CREATE TABLE IF NOT EXISTS finding_acks (
    finding_id String,
    version UInt64,
    reason String,
    acked_by String,
    acked_at DateTime('UTC'),
    until DateTime('UTC'),
    cleared UInt8
) ENGINE = ReplacingMergeTree(version)
ORDER BY finding_id;

-- Alerts sent for findings: one row per finding occurrence (its id and
-- when it opened) and channel, so an occurrence is announced once.
CREATE TABLE IF NOT EXISTS alert_log (
    finding_id String,
    opened_at DateTime('UTC'),
    channel String,
    sent_at DateTime('UTC')
) ENGINE = ReplacingMergeTree
ORDER BY (finding_id, opened_at, channel);
