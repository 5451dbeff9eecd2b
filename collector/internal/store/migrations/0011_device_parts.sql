-- 0011_device_parts: a device's identifiers and evidence (what `umbra
-- device explain` shows), one row per identifier or evidence group, keyed
-- by a hash of that part's JSON. A run writes only the parts that changed:
-- a new observation changes one evidence group's count, last time and
-- reference, and the identifiers it names, not the device's whole history
-- (which device_current's identifiers and evidence columns rewrote every
-- time, some 2 KB a device, and ClickHouse merged again and again). A part
-- that changed is a new row; its old row gets a deleted row of a later
-- version. Readers take the parts of a device with deleted = 0 (FINAL).
-- device_current's identifiers and evidence columns are written empty from
-- now on (18.16 has no DROP COLUMN IF EXISTS for a rerun to be safe).
CREATE TABLE IF NOT EXISTS device_parts (
    device_id String,
    part UInt64,
    version UInt64,
    deleted UInt8,
    kind UInt8,
    doc String
) ENGINE = ReplacingMergeTree(version)
ORDER BY (device_id, part);
