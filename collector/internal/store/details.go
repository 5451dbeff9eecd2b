package store

import (
	"fmt"
	"math"

	"github.com/umbrasec/umbra/shared/wire"
)

// The tables of migration 0003: what an inventory carries beyond the
// summary in inventories, and what a discovery finds. Each is a TableWriter
// listed in ReportTables.
//
// Software deltas are resolved when read, not when written: a TableWriter
// sees one report and no database, and the base of a delta may be in the
// same batch. A full list is stored as rows with op "full", a delta as rows
// with op "add", "change" or "remove"; host_details records each report's
// mode, base report and digests. The software of an agent is then its
// software chain: its latest full report, followed by the deltas after it
// (in the order of "latest": collected_at, received_at, report_id) for as
// long as each delta's base is the report just before it. The state of a
// package is its row in the last report of the chain that mentions it,
// gone if that row is a removal. A delta whose base is not the report just
// before it (an agent that lost its memory of what it sent) ends the chain:
// the software shown is then that of the chain's last report, and the
// host's detail says so, until the agent sends a full list. HostDetail
// also checks the rebuilt list against the digest the agent computed.

// Software ops.
const (
	opFull   = "full"
	opAdd    = "add"
	opChange = "change"
	opRemove = "remove"
)

// Software modes of an inventory.
const (
	SoftwareFull  = "full"
	SoftwareDelta = "delta"
)

func isInventory(r *wire.Report) bool { return r.Kind == wire.KindInventory && r.Inventory != nil }

func isDiscovery(r *wire.Report) bool { return r.Kind == wire.KindDiscovery && r.Discovery != nil }

// chainKey orders an agent's inventories as "latest" does: by collected_at,
// then received_at, then report id, as one string.
func chainKey(rc Received) string {
	return fmt.Sprintf("%010d.%010d.%s", dateTime(rc.Report.Inventory.CollectedAt).Unix(), dateTime(rc.At).Unix(), rc.Report.ID)
}

func clampUint16(n int) uint16 {
	return uint16(min(max(n, 0), math.MaxUint16))
}

func clampUint8(n int) uint8 {
	return uint8(min(max(n, 0), math.MaxUint8))
}

func clampInt32(n int) int32 {
	return int32(min(max(n, math.MinInt32), math.MaxInt32))
}

func sourceErrors(errs []wire.SourceError) (sources, messages []string, unavailable []uint8) {
	sources = make([]string, 0, len(errs))
	messages = make([]string, 0, len(errs))
	unavailable = make([]uint8, 0, len(errs))
	for _, e := range errs {
		sources = append(sources, e.Source)
		messages = append(messages, e.Error)
		unavailable = append(unavailable, boolUint8(e.Unavailable))
	}
	return sources, messages, unavailable
}

var hostDetailsTable = TableWriter{
	Table: "host_details",
	Insert: `INSERT INTO host_details (agent_id, report_id, collected_at, received_at, chain_key, full_inventory,
		fqdn, domain, workgroup, os_build, os_install_date, time_zone, utc_offset_seconds, cpu_vendor, cpu_sockets, cpu_mhz,
		software_mode, software_rows, software_base_report_id, software_base_digest, software_digest,
		error_sources, error_messages, error_unavailable)`,
	Rows: func(rows [][]any, rc Received) [][]any {
		r := rc.Report
		if !isInventory(r) {
			return rows
		}
		inv := r.Inventory
		mode, n, base, baseDigest, digest := SoftwareFull, len(inv.Software), "", "", ""
		if d := inv.SoftwareDelta; d != nil {
			mode, n, base, baseDigest, digest = SoftwareDelta, len(d.Added)+len(d.Changed)+len(d.Removed), d.BaseReportID, d.BaseDigest, d.Digest
		} else {
			digest = wire.SoftwareDigest(inv.Software)
		}
		mhz := inv.CPU.MHz
		if math.IsNaN(mhz) || math.IsInf(mhz, 0) || mhz < 0 {
			mhz = 0
		}
		es, em, eu := sourceErrors(inv.Errors)
		return append(rows, []any{r.AgentID, r.ID, dateTime(inv.CollectedAt), dateTime(rc.At), chainKey(rc), boolUint8(inv.Full),
			inv.Host.FQDN, inv.Host.Domain, inv.Host.Workgroup, inv.OS.Build, dateTime(inv.OS.InstallDate), inv.OS.TimeZone,
			clampInt32(inv.OS.UTCOffsetSeconds), inv.CPU.Vendor, clampUint32(inv.CPU.Sockets), mhz,
			mode, clampUint32(n), base, baseDigest, digest, es, em, eu})
	},
}

var hostHardwareTable = TableWriter{
	Table: "host_hardware",
	Insert: `INSERT INTO host_hardware (agent_id, report_id, collected_at,
		system_vendor, system_model, system_family, system_version, system_sku, system_serial, system_uuid, chassis, asset_tag,
		bios_vendor, bios_version, bios_date, board_vendor, board_model, board_version, board_serial, board_asset_tag,
		disk_name, disk_model, disk_vendor, disk_serial, disk_firmware, disk_size_bytes, disk_kind, disk_removable,
		mem_locator, mem_size_bytes, mem_type, mem_speed_mts, mem_manufacturer, mem_part_number, mem_serial,
		mem_bank, mem_configured_speed_mts, memory_slots, memory_max_bytes,
		monitor_port, monitor_maker, monitor_product_code, monitor_model, monitor_serial, monitor_year, monitor_week,
		monitor_width_cm, monitor_height_cm,
		battery_name, battery_manufacturer, battery_model, battery_serial, battery_chemistry, battery_design_capacity,
		battery_full_capacity, battery_capacity_unit, battery_cycle_count, battery_status)`,
	Rows: func(rows [][]any, rc Received) [][]any {
		r := rc.Report
		if !isInventory(r) || r.Inventory.Hardware == nil {
			return rows
		}
		hw := r.Inventory.Hardware
		row := []any{r.AgentID, r.ID, dateTime(r.Inventory.CollectedAt),
			hw.System.Vendor, hw.System.Model, hw.System.Family, hw.System.Version, hw.System.SKU, hw.System.Serial,
			hw.System.UUID, hw.System.Chassis, hw.System.AssetTag,
			hw.BIOS.Vendor, hw.BIOS.Version, hw.BIOS.Date,
			hw.Baseboard.Vendor, hw.Baseboard.Model, hw.Baseboard.Version, hw.Baseboard.Serial, hw.Baseboard.AssetTag}
		row = append(row,
			column(hw.Disks, func(d wire.Disk) string { return d.Name }),
			column(hw.Disks, func(d wire.Disk) string { return d.Model }),
			column(hw.Disks, func(d wire.Disk) string { return d.Vendor }),
			column(hw.Disks, func(d wire.Disk) string { return d.Serial }),
			column(hw.Disks, func(d wire.Disk) string { return d.Firmware }),
			column(hw.Disks, func(d wire.Disk) uint64 { return d.SizeBytes }),
			column(hw.Disks, func(d wire.Disk) string { return d.Kind }),
			column(hw.Disks, func(d wire.Disk) uint8 { return boolUint8(d.Removable) }),
			column(hw.MemoryModules, func(m wire.MemoryModule) string { return m.Locator }),
			column(hw.MemoryModules, func(m wire.MemoryModule) uint64 { return m.SizeBytes }),
			column(hw.MemoryModules, func(m wire.MemoryModule) string { return m.Type }),
			column(hw.MemoryModules, func(m wire.MemoryModule) uint32 { return clampUint32(m.SpeedMTs) }),
			column(hw.MemoryModules, func(m wire.MemoryModule) string { return m.Manufacturer }),
			column(hw.MemoryModules, func(m wire.MemoryModule) string { return m.PartNumber }),
			column(hw.MemoryModules, func(m wire.MemoryModule) string { return m.Serial }),
			column(hw.MemoryModules, func(m wire.MemoryModule) string { return m.Bank }),
			column(hw.MemoryModules, func(m wire.MemoryModule) uint32 { return clampUint32(m.ConfiguredSpeedMTs) }),
			clampUint32(hw.MemorySlots), hw.MemoryMaxBytes,
			column(hw.Monitors, func(m wire.Monitor) string { return m.Port }),
			column(hw.Monitors, func(m wire.Monitor) string { return m.Maker }),
			column(hw.Monitors, func(m wire.Monitor) string { return m.ProductCode }),
			column(hw.Monitors, func(m wire.Monitor) string { return m.Model }),
			column(hw.Monitors, func(m wire.Monitor) string { return m.Serial }),
			column(hw.Monitors, func(m wire.Monitor) uint16 { return clampUint16(m.Year) }),
			column(hw.Monitors, func(m wire.Monitor) uint8 { return clampUint8(m.Week) }),
			column(hw.Monitors, func(m wire.Monitor) uint32 { return clampUint32(m.WidthCm) }),
			column(hw.Monitors, func(m wire.Monitor) uint32 { return clampUint32(m.HeightCm) }),
			column(hw.Batteries, func(b wire.Battery) string { return b.Name }),
			column(hw.Batteries, func(b wire.Battery) string { return b.Manufacturer }),
			column(hw.Batteries, func(b wire.Battery) string { return b.Model }),
			column(hw.Batteries, func(b wire.Battery) string { return b.Serial }),
			column(hw.Batteries, func(b wire.Battery) string { return b.Chemistry }),
			column(hw.Batteries, func(b wire.Battery) int64 { return b.DesignCapacity }),
			column(hw.Batteries, func(b wire.Battery) int64 { return b.FullCapacity }),
			column(hw.Batteries, func(b wire.Battery) string { return b.CapacityUnit }),
			column(hw.Batteries, func(b wire.Battery) uint32 { return clampUint32(b.CycleCount) }),
			column(hw.Batteries, func(b wire.Battery) string { return b.Status }),
		)
		return append(rows, row)
	},
}

// column is one field of every element of list: a parallel array.
func column[E, T any](list []E, f func(E) T) []T {
	out := make([]T, len(list))
	for i, e := range list {
		out[i] = f(e)
	}
	return out
}

var hostSoftwareTable = TableWriter{
	Table: "host_software",
	Insert: `INSERT INTO host_software (agent_id, report_id, collected_at, op, source, key_id, arch, scope,
		name, package_id, version, publisher, install_date, size_bytes, location)`,
	Rows: func(rows [][]any, rc Received) [][]any {
		r := rc.Report
		if !isInventory(r) {
			return rows
		}
		collected := dateTime(r.Inventory.CollectedAt)
		pkg := func(op string, p wire.Package) []any {
			k := p.Key()
			return []any{r.AgentID, r.ID, collected, op, k.Source, k.ID, k.Arch, k.Scope,
				p.Name, p.ID, p.Version, p.Publisher, dateTime(p.InstallDate), p.SizeBytes, p.Location}
		}
		d := r.Inventory.SoftwareDelta
		if d == nil {
			for _, p := range r.Inventory.Software {
				rows = append(rows, pkg(opFull, p))
			}
			return rows
		}
		for _, p := range d.Added {
			rows = append(rows, pkg(opAdd, p))
		}
		for _, p := range d.Changed {
			rows = append(rows, pkg(opChange, p))
		}
		for _, k := range d.Removed {
			rows = append(rows, []any{r.AgentID, r.ID, collected, opRemove, k.Source, k.ID, k.Arch, k.Scope,
				"", "", "", "", minDateTime, uint64(0), ""})
		}
		return rows
	},
}

var hostUsersTable = TableWriter{
	Table:  "host_users",
	Insert: "INSERT INTO host_users (agent_id, report_id, collected_at, idx, name, uid, full_name, home, shell, system_account, disabled, admin, last_logon)",
	Rows: func(rows [][]any, rc Received) [][]any {
		r := rc.Report
		if !isInventory(r) {
			return rows
		}
		collected := dateTime(r.Inventory.CollectedAt)
		for i, u := range r.Inventory.Users {
			rows = append(rows, []any{r.AgentID, r.ID, collected, uint32(i), u.Name, u.ID, u.FullName, u.Home, u.Shell,
				boolUint8(u.System), boolUint8(u.Disabled), boolUint8(u.Admin), dateTime(u.LastLogon)})
		}
		return rows
	},
}

var hostSessionsTable = TableWriter{
	Table:  "host_sessions",
	Insert: "INSERT INTO host_sessions (agent_id, report_id, collected_at, idx, user, terminal, remote, since)",
	Rows: func(rows [][]any, rc Received) [][]any {
		r := rc.Report
		if !isInventory(r) {
			return rows
		}
		collected := dateTime(r.Inventory.CollectedAt)
		for i, s := range r.Inventory.Sessions {
			rows = append(rows, []any{r.AgentID, r.ID, collected, uint32(i), s.User, s.Terminal, s.Remote, dateTime(s.Since)})
		}
		return rows
	},
}

var hostServicesTable = TableWriter{
	Table:  "host_services",
	Insert: "INSERT INTO host_services (agent_id, report_id, collected_at, idx, name, display_name, manager, state, start_mode, path, user)",
	Rows: func(rows [][]any, rc Received) [][]any {
		r := rc.Report
		if !isInventory(r) {
			return rows
		}
		collected := dateTime(r.Inventory.CollectedAt)
		for i, s := range r.Inventory.Services {
			rows = append(rows, []any{r.AgentID, r.ID, collected, uint32(i), s.Name, s.DisplayName, s.Manager, s.State,
				s.StartMode, s.Path, s.User})
		}
		return rows
	},
}

var hostListenersTable = TableWriter{
	Table:  "host_listeners",
	Insert: "INSERT INTO host_listeners (agent_id, report_id, collected_at, idx, protocol, address, port, pid, process, user)",
	Rows: func(rows [][]any, rc Received) [][]any {
		r := rc.Report
		if !isInventory(r) {
			return rows
		}
		collected := dateTime(r.Inventory.CollectedAt)
		for i, l := range r.Inventory.Listeners {
			rows = append(rows, []any{r.AgentID, r.ID, collected, uint32(i), l.Protocol, l.Address, clampUint16(l.Port),
				clampUint32(l.PID), l.Process, l.User})
		}
		return rows
	},
}

// The kinds of host_security rows.
const (
	postureEncryption = "encryption"
	postureFirewall   = "firewall"
	postureAntivirus  = "antivirus"
)

var hostSecurityTable = TableWriter{
	Table:  "host_security",
	Insert: "INSERT INTO host_security (agent_id, report_id, collected_at, kind, idx, name, method, enabled, up_to_date, detail)",
	Rows: func(rows [][]any, rc Received) [][]any {
		r := rc.Report
		if !isInventory(r) || r.Inventory.Security == nil {
			return rows
		}
		collected := dateTime(r.Inventory.CollectedAt)
		s := r.Inventory.Security
		for i, e := range s.Encryption {
			rows = append(rows, []any{r.AgentID, r.ID, collected, postureEncryption, uint32(i), e.Volume, e.Method,
				boolUint8(e.Encrypted), uint8(0), e.Status})
		}
		for i, f := range s.Firewalls {
			rows = append(rows, []any{r.AgentID, r.ID, collected, postureFirewall, uint32(i), f.Name, "",
				boolUint8(f.Enabled), uint8(0), f.Detail})
		}
		for i, a := range s.Antivirus {
			rows = append(rows, []any{r.AgentID, r.ID, collected, postureAntivirus, uint32(i), a.Name, "",
				boolUint8(a.Enabled), boolUint8(a.UpToDate), a.Detail})
		}
		return rows
	},
}

var discoveriesTable = TableWriter{
	Table: "discoveries",
	Insert: `INSERT INTO discoveries (agent_id, report_id, started_at, finished_at, received_at, targets, excluded, profile,
		observation_count, error_sources, error_messages, error_unavailable)`,
	Rows: func(rows [][]any, rc Received) [][]any {
		r := rc.Report
		if !isDiscovery(r) {
			return rows
		}
		d := r.Discovery
		es, em, eu := sourceErrors(d.Errors)
		return append(rows, []any{r.AgentID, r.ID, dateTime(d.StartedAt), dateTime(d.FinishedAt), dateTime(rc.At),
			nonNilStrings(d.Targets), nonNilStrings(d.Excluded), d.Profile, clampUint32(len(d.Observations)), es, em, eu})
	},
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

var observationsTable = TableWriter{
	Table: "observations",
	Insert: `INSERT INTO observations (observed_at, received_at, agent_id, report_id, idx, observer, method, ip, mac, mac_local,
		hostname, vendor, model, serial, via, port, open_ports, rtt_us, kinds, kind_reasons, evidence_keys, evidence_values)`,
	Rows: func(rows [][]any, rc Received) [][]any {
		r := rc.Report
		if !isDiscovery(r) {
			return rows
		}
		received := dateTime(rc.At)
		for i, o := range r.Discovery.Observations {
			observer := o.Observer
			if observer == "" {
				observer = r.AgentID
			}
			rows = append(rows, []any{dateTime(o.ObservedAt), received, r.AgentID, r.ID, uint32(i), observer, string(o.Method),
				o.IP, o.MAC, boolUint8(o.MACLocal), o.Hostname, o.Vendor, o.Model, o.Serial, o.Via, o.Port,
				column(o.OpenPorts, clampUint16), uint64(max(o.RTTMicros, 0)),
				column(o.Kinds, func(k wire.KindHint) string { return k.Kind }),
				column(o.Kinds, func(k wire.KindHint) string { return k.Reason }),
				column(o.Evidence, func(e wire.Evidence) string { return e.Key }),
				column(o.Evidence, func(e wire.Evidence) string { return e.Value }),
			})
		}
		return rows
	},
}
