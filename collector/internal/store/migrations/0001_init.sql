-- 0001_init: the raw report log, inventories and their network interfaces.
-- Every statement is idempotent (IF NOT EXISTS), so a migration interrupted
-- half-way completes on a rerun and two collectors may migrate at once.
-- The text is a text/template over store.Features: LowCardinalityString is
-- LowCardinality(String) where the server supports it, else String;
-- ReportTTL is a TTL clause where the server supports it, else nothing. Partitions are derived from the report itself, so a
-- retried report lands in the same partition and FINAL collapses it.

CREATE TABLE IF NOT EXISTS reports (
    report_id String,
    agent_id String,
    kind {{.LowCardinalityString}},
    schema UInt16,
    agent_version {{.LowCardinalityString}},
    created_at DateTime('UTC'),
    received_at DateTime('UTC'),
    size_bytes UInt64
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY report_id
{{.ReportTTL}};

CREATE TABLE IF NOT EXISTS inventories (
    agent_id String,
    report_id String,
    collected_at DateTime('UTC'),
    received_at DateTime('UTC'),
    host_id String,
    hostname String,
    os_family {{.LowCardinalityString}},
    platform {{.LowCardinalityString}},
    platform_version {{.LowCardinalityString}},
    kernel {{.LowCardinalityString}},
    arch {{.LowCardinalityString}},
    virtualization {{.LowCardinalityString}},
    virtualization_role {{.LowCardinalityString}},
    cpu_model {{.LowCardinalityString}},
    cpu_cores UInt32,
    cpu_threads UInt32,
    memory_bytes UInt64,
    boot_time DateTime('UTC'),
    error_sources Array(String),
    error_messages Array(String)
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(collected_at)
ORDER BY (agent_id, report_id);

CREATE TABLE IF NOT EXISTS host_interfaces (
    agent_id String,
    report_id String,
    collected_at DateTime('UTC'),
    name String,
    mac String,
    addrs Array(String),
    mtu UInt32,
    up UInt8,
    loopback UInt8
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(collected_at)
ORDER BY (agent_id, report_id, name);
