-- 0010_memory: the memory bank and configured speed of each module, and the
-- memory array's slot count and maximum capacity. 18.16 has no ADD COLUMN
-- IF NOT EXISTS: the migrator takes "column already exists" (code 44) of
-- an ADD COLUMN as done, so a rerun after a partial run is idempotent.
ALTER TABLE host_hardware ADD COLUMN mem_bank Array(String) AFTER mem_serial;
ALTER TABLE host_hardware ADD COLUMN mem_configured_speed_mts Array(UInt32) AFTER mem_bank;
ALTER TABLE host_hardware ADD COLUMN memory_slots UInt32 AFTER mem_configured_speed_mts;
ALTER TABLE host_hardware ADD COLUMN memory_max_bytes UInt64 AFTER memory_slots;
