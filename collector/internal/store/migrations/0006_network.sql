-- 0006_network: a host's network settings beside its interfaces (default
-- gateways, DNS servers) and each interface's link kind, one row per
-- inventory report. A table of its own rather than new columns: 18.16 has
-- no ADD COLUMN IF NOT EXISTS, and every statement here must be idempotent.

CREATE TABLE IF NOT EXISTS host_network (
    agent_id String,
    report_id String,
    collected_at DateTime('UTC'),
    gateways Array(String),
    dns_servers Array(String),
    iface_names Array(String),
    iface_kinds Array({{.LowCardinalityString}})
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(collected_at)
ORDER BY (agent_id, report_id);
