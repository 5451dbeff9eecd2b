-- 0003_details: everything an inventory carries beyond 0001's summary
-- (host details, hardware, software, accounts, services, listeners,
-- security posture) and what discovery reports find (discoveries,
-- observations).
-- Every table is a ReplacingMergeTree whose partition and sorting key come
-- from the report itself (its ids, its own times, the index of a row in
-- its list), so a retried report collapses with its first copy; reads use
-- FINAL or uniqExact. Components of one object (the disks of a machine, the
-- kind hints of an observation) are parallel arrays: 18.16 has no Map or
-- JSON type.

-- One row per inventory, keyed like inventories: the host fields 0001 lacks
-- and the bookkeeping of the software list. software_mode is "full" (the
-- report lists every package) or "delta" (it lists changes against
-- software_base_report_id); chain_key orders an agent's inventories as
-- "latest" does everywhere: collected_at, received_at, report_id.
CREATE TABLE IF NOT EXISTS host_details (
    agent_id String,
    report_id String,
    collected_at DateTime('UTC'),
    received_at DateTime('UTC'),
    chain_key String,
    full_inventory UInt8,
    fqdn String,
    domain String,
    workgroup String,
    os_build {{.LowCardinalityString}},
    os_install_date DateTime('UTC'),
    time_zone {{.LowCardinalityString}},
    utc_offset_seconds Int32,
    cpu_vendor {{.LowCardinalityString}},
    cpu_sockets UInt32,
    cpu_mhz Float64,
    software_mode {{.LowCardinalityString}},
    software_rows UInt32,
    software_base_report_id String,
    software_base_digest String,
    software_digest String,
    error_sources Array(String),
    error_messages Array(String),
    error_unavailable Array(UInt8)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(collected_at)
ORDER BY (agent_id, report_id);

-- One row per inventory that carries hardware; components as parallel
-- arrays.
CREATE TABLE IF NOT EXISTS host_hardware (
    agent_id String,
    report_id String,
    collected_at DateTime('UTC'),
    system_vendor {{.LowCardinalityString}},
    system_model String,
    system_family String,
    system_version String,
    system_sku String,
    system_serial String,
    system_uuid String,
    chassis {{.LowCardinalityString}},
    asset_tag String,
    bios_vendor {{.LowCardinalityString}},
    bios_version String,
    bios_date String,
    board_vendor {{.LowCardinalityString}},
    board_model String,
    board_version String,
    board_serial String,
    board_asset_tag String,
    disk_name Array(String),
    disk_model Array(String),
    disk_vendor Array(String),
    disk_serial Array(String),
    disk_firmware Array(String),
    disk_size_bytes Array(UInt64),
    disk_kind Array(String),
    disk_removable Array(UInt8),
    mem_locator Array(String),
    mem_size_bytes Array(UInt64),
    mem_type Array(String),
    mem_speed_mts Array(UInt32),
    mem_manufacturer Array(String),
    mem_part_number Array(String),
    mem_serial Array(String),
    monitor_port Array(String),
    monitor_maker Array(String),
    monitor_product_code Array(String),
    monitor_model Array(String),
    monitor_serial Array(String),
    monitor_year Array(UInt16),
    monitor_week Array(UInt8),
    monitor_width_cm Array(UInt32),
    monitor_height_cm Array(UInt32),
    battery_name Array(String),
    battery_manufacturer Array(String),
    battery_model Array(String),
    battery_serial Array(String),
    battery_chemistry Array(String),
    battery_design_capacity Array(Int64),
    battery_full_capacity Array(Int64),
    battery_capacity_unit Array(String),
    battery_cycle_count Array(UInt32),
    battery_status Array(String)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(collected_at)
ORDER BY (agent_id, report_id);

-- One row per package per report. op is "full" for a row of a full list,
-- "add", "change" or "remove" for a row of a delta (a removal carries only
-- the key). The sorting key is the package's key (wire.PackageKey: source,
-- id or else name, arch, scope) and op, so two packages that share a name
-- but not an id (two Windows uninstall keys) both stay.
CREATE TABLE IF NOT EXISTS host_software (
    agent_id String,
    report_id String,
    collected_at DateTime('UTC'),
    op {{.LowCardinalityString}},
    source {{.LowCardinalityString}},
    key_id String,
    arch {{.LowCardinalityString}},
    scope String,
    name String,
    package_id String,
    version String,
    publisher String,
    install_date DateTime('UTC'),
    size_bytes UInt64,
    location String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(collected_at)
ORDER BY (agent_id, report_id, source, key_id, arch, scope, op);

-- Lists without a natural key are keyed by their index in the report.
CREATE TABLE IF NOT EXISTS host_users (
    agent_id String,
    report_id String,
    collected_at DateTime('UTC'),
    idx UInt32,
    name String,
    uid String,
    full_name String,
    home String,
    shell String,
    system_account UInt8,
    disabled UInt8,
    admin UInt8,
    last_logon DateTime('UTC')
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(collected_at)
ORDER BY (agent_id, report_id, idx);

CREATE TABLE IF NOT EXISTS host_sessions (
    agent_id String,
    report_id String,
    collected_at DateTime('UTC'),
    idx UInt32,
    user String,
    terminal String,
    remote String,
    since DateTime('UTC')
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(collected_at)
ORDER BY (agent_id, report_id, idx);

CREATE TABLE IF NOT EXISTS host_services (
    agent_id String,
    report_id String,
    collected_at DateTime('UTC'),
    idx UInt32,
    name String,
    display_name String,
    manager {{.LowCardinalityString}},
    state {{.LowCardinalityString}},
    start_mode {{.LowCardinalityString}},
    path String,
    user String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(collected_at)
ORDER BY (agent_id, report_id, idx);

CREATE TABLE IF NOT EXISTS host_listeners (
    agent_id String,
    report_id String,
    collected_at DateTime('UTC'),
    idx UInt32,
    protocol {{.LowCardinalityString}},
    address String,
    port UInt16,
    pid UInt32,
    process String,
    user String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(collected_at)
ORDER BY (agent_id, report_id, idx);

-- The security posture: kind is encryption (name is the volume, enabled
-- says encrypted), firewall or antivirus.
CREATE TABLE IF NOT EXISTS host_security (
    agent_id String,
    report_id String,
    collected_at DateTime('UTC'),
    kind {{.LowCardinalityString}},
    idx UInt32,
    name String,
    method String,
    enabled UInt8,
    up_to_date UInt8,
    detail String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(collected_at)
ORDER BY (agent_id, report_id, kind, idx);

-- One row per discovery report: what was asked, so silence can be told
-- apart from not looking.
CREATE TABLE IF NOT EXISTS discoveries (
    agent_id String,
    report_id String,
    started_at DateTime('UTC'),
    finished_at DateTime('UTC'),
    received_at DateTime('UTC'),
    targets Array(String),
    excluded Array(String),
    profile {{.LowCardinalityString}},
    observation_count UInt32,
    error_sources Array(String),
    error_messages Array(String),
    error_unavailable Array(UInt8)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(started_at)
ORDER BY (agent_id, report_id);

-- Observations are append-only: one row per observation, keyed by its
-- report and its index there. observer is the observing agent (the
-- report's agent when the observation names none).
CREATE TABLE IF NOT EXISTS observations (
    observed_at DateTime('UTC'),
    received_at DateTime('UTC'),
    agent_id String,
    report_id String,
    idx UInt32,
    observer String,
    method {{.LowCardinalityString}},
    ip String,
    mac String,
    mac_local UInt8,
    hostname String,
    vendor String,
    model String,
    serial String,
    via String,
    port String,
    open_ports Array(UInt16),
    rtt_us UInt64,
    kinds Array(String),
    kind_reasons Array(String),
    evidence_keys Array(String),
    evidence_values Array(String)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(observed_at)
ORDER BY (mac, ip, report_id, idx);
