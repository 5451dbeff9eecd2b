package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/umbrasec/umbra/shared/wire"
)

// ErrNoHost is returned by HostDetail for an agent without an inventory.
var ErrNoHost = errors.New("no inventory from this agent")

// softwareChainQuery lists, per agent, the reports of its software chain
// (see details.go) in order. It binds the agent id twice (empty: every
// agent). 18.16's lambdas cannot see columns, so the arrays they compare
// are passed in side by side: the chain breaks at the first delta whose
// base is not the report before it.
const softwareChainQuery = `
SELECT agent_id, if(bad = 0, cids, arraySlice(cids, 1, bad - 1)) AS chain
FROM (
    SELECT agent_id,
        arraySlice(ids, length(ids) - rf + 1) AS cids,
        arraySlice(bases, length(ids) - rf + 1) AS cbases,
        arrayFirstIndex((b, p, i) -> i > 1 AND b != p, cbases, arrayPushFront(arrayPopBack(cids), ''), arrayEnumerate(cids)) AS bad
    FROM (
        SELECT agent_id,
            arrayMap(x -> x.2, s) AS ids,
            arrayMap(x -> x.3, s) AS bases,
            arrayFirstIndex(m -> m = 'full', arrayReverse(arrayMap(x -> x.4, s))) AS rf
        FROM (
            SELECT agent_id, arraySort(x -> x.1, groupArray((chain_key, report_id, software_base_report_id, software_mode))) AS s
            FROM host_details FINAL
            WHERE ? = '' OR agent_id = ?
            GROUP BY agent_id
        )
    )
    WHERE rf > 0
)`

// currentSoftwareQuery is every agent's current packages, one row per
// package key: the last row of the chain that names the key, unless it is
// a removal.
const currentSoftwareQuery = `
SELECT agent_id, source, key_id, arch, scope,
    argMax(op, pos) AS c_op,
    argMax(name, pos) AS c_name,
    argMax(package_id, pos) AS c_package_id,
    argMax(version, pos) AS c_version,
    argMax(publisher, pos) AS c_publisher,
    argMax(install_date, pos) AS c_install_date,
    argMax(size_bytes, pos) AS c_size_bytes,
    argMax(location, pos) AS c_location
FROM host_software FINAL
ANY INNER JOIN (
    SELECT agent_id, report_id, pos
    FROM (` + softwareChainQuery + `)
    ARRAY JOIN chain AS report_id, arrayEnumerate(chain) AS pos
) USING (agent_id, report_id)
WHERE (agent_id, report_id) IN (
    SELECT agent_id, report_id FROM (` + softwareChainQuery + `) ARRAY JOIN chain AS report_id
)
GROUP BY agent_id, source, key_id, arch, scope
HAVING c_op != 'remove'`

// SoftwareFilter selects software across the fleet.
type SoftwareFilter struct {
	// Name keeps packages whose name contains it, ignoring case.
	Name string
	// Source keeps one package source (dpkg, rpm, …); empty keeps all.
	Source string
	// Limit bounds the rows; zero means 10000.
	Limit int
}

// SoftwareSummary is one piece of software across the fleet.
type SoftwareSummary struct {
	Name       string
	Source     string
	Publishers []string
	Versions   []string
	// Installs is the number of agents whose current software has it.
	Installs uint64
}

// Software lists the software installed across the fleet, each agent
// counted by its current software (see details.go), most installed first.
func (db *DB) Software(ctx context.Context, f SoftwareFilter) ([]SoftwareSummary, error) {
	if f.Limit <= 0 {
		f.Limit = 10000
	}
	q := `
SELECT c_name, source, groupUniqArray(c_publisher), groupUniqArray(c_version), uniqExact(agent_id) AS installs
FROM (` + currentSoftwareQuery + `)
WHERE positionCaseInsensitiveUTF8(c_name, ?) > 0 AND (? = '' OR source = ?)
GROUP BY c_name, source
ORDER BY installs DESC, c_name, source
LIMIT ?`
	rows, err := db.conn.Query(ctx, q, "", "", "", "", f.Name, f.Source, f.Source, uint64(f.Limit))
	if err != nil {
		return nil, fmt.Errorf("listing software: %w", classify(err))
	}
	defer rows.Close()
	out := []SoftwareSummary{}
	for rows.Next() {
		var s SoftwareSummary
		if err := rows.Scan(&s.Name, &s.Source, &s.Publishers, &s.Versions, &s.Installs); err != nil {
			return nil, fmt.Errorf("listing software: %w", err)
		}
		s.Publishers = withoutEmpty(s.Publishers)
		s.Versions = withoutEmpty(s.Versions)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing software: %w", classify(err))
	}
	return out, nil
}

func withoutEmpty(s []string) []string {
	out := make([]string, 0, len(s))
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// HostDetail is everything the latest inventory of one agent says.
type HostDetail struct {
	Host Host

	FQDN             string
	Domain           string
	Workgroup        string
	OSBuild          string
	OSInstallDate    time.Time
	TimeZone         string
	UTCOffsetSeconds int
	CPUVendor        string
	CPUSockets       uint32
	CPUMHz           float64

	Interfaces []wire.Interface
	Gateways   []string
	DNSServers []string
	Hardware   *wire.Hardware
	Users      []wire.User
	Sessions   []wire.Session
	Services   []wire.Service
	Listeners  []wire.Listener
	Security   *wire.Security
	Errors     []wire.SourceError

	Software HostSoftware
}

// HostSoftware is an agent's current software.
type HostSoftware struct {
	// Mode is how the latest inventory sent its software: full or delta.
	Mode string
	// AsOfReportID is the last report of the software chain: the list is
	// the host's software as that report describes it. It differs from the
	// latest inventory's when a delta did not follow on (see details.go);
	// it is empty when the collector has no full list from the agent.
	AsOfReportID string
	// Verified is true when the rebuilt list has the digest the agent
	// computed for that report.
	Verified bool
	Packages []wire.Package
}

// HostDetail returns everything about an agent's host as its latest
// inventory describes it, or ErrNoHost.
func (db *DB) HostDetail(ctx context.Context, agentID string) (*HostDetail, error) {
	d, err := db.hostDetail(ctx, agentID)
	if err != nil {
		return nil, fmt.Errorf("reading host %s: %w", agentID, err)
	}
	return d, nil
}

func (db *DB) hostDetail(ctx context.Context, agentID string) (*HostDetail, error) {
	d := &HostDetail{}
	h := &d.Host
	var errSources, errMessages []string
	err := db.conn.QueryRow(ctx, `
SELECT report_id, host_id, hostname, os_family, platform, platform_version, kernel, arch, virtualization,
    virtualization_role, cpu_model, cpu_cores, cpu_threads, memory_bytes, collected_at, error_sources, error_messages
FROM inventories FINAL
WHERE agent_id = ?
ORDER BY collected_at DESC, received_at DESC, report_id DESC
LIMIT 1`, agentID).Scan(&h.ReportID, &h.HostID, &h.Hostname, &h.OSFamily, &h.Platform, &h.PlatformVersion, &h.Kernel,
		&h.Arch, &h.Virtualization, &h.VirtualizationRole, &h.CPUModel, &h.CPUCores, &h.CPUThreads, &h.MemoryBytes,
		&h.CollectedAt, &errSources, &errMessages)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoHost
	}
	if err != nil {
		return nil, classify(err)
	}
	h.AgentID = agentID
	if err := db.conn.QueryRow(ctx, `
SELECT min(received_at), max(received_at), uniqExact(report_id) FROM inventories FINAL WHERE agent_id = ?`,
		agentID).Scan(&h.FirstSeen, &h.LastSeen, &h.Reports); err != nil {
		return nil, classify(err)
	}
	rep := h.ReportID
	for i := range errSources {
		if i < len(errMessages) {
			d.Errors = append(d.Errors, wire.SourceError{Source: errSources[i], Error: errMessages[i]})
		}
	}

	var unavailable []uint8
	var offset int32
	err = db.conn.QueryRow(ctx, `
SELECT fqdn, domain, workgroup, os_build, os_install_date, time_zone, utc_offset_seconds, cpu_vendor, cpu_sockets,
    cpu_mhz, software_mode, error_unavailable
FROM host_details FINAL WHERE agent_id = ? AND report_id = ?`, agentID, rep).Scan(&d.FQDN, &d.Domain, &d.Workgroup,
		&d.OSBuild, &d.OSInstallDate, &d.TimeZone, &offset, &d.CPUVendor, &d.CPUSockets, &d.CPUMHz,
		&d.Software.Mode, &unavailable)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// An inventory stored before migration 0003.
	case err != nil:
		return nil, classify(err)
	}
	d.UTCOffsetSeconds = int(offset)
	for i := range d.Errors {
		d.Errors[i].Unavailable = i < len(unavailable) && unavailable[i] != 0
	}
	d.OSInstallDate = zeroEpoch(d.OSInstallDate)

	steps := []func(context.Context, *HostDetail, string, string) error{
		db.hostInterfaces, db.hostHardware, db.hostUsers, db.hostSessions, db.hostServices, db.hostListeners,
		db.hostSecurity, db.hostSoftware, db.hostNetwork,
	}
	for _, step := range steps {
		if err := step(ctx, d, agentID, rep); err != nil {
			return nil, err
		}
	}
	sort.Strings(h.MACs)
	sort.Strings(h.Addresses)
	return d, nil
}

// zeroEpoch maps the stored 1970-01-01 (a zero time clamped) back to the
// zero time.
func zeroEpoch(t time.Time) time.Time {
	if !t.After(minDateTime) {
		return time.Time{}
	}
	return t.UTC()
}

// each runs a query and calls scan for every row.
func (db *DB) each(ctx context.Context, what, q string, scan func(driver.Rows) error, args ...any) error {
	rows, err := db.conn.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("reading %s: %w", what, classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("reading %s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", what, classify(err))
	}
	return nil
}

func (db *DB) hostInterfaces(ctx context.Context, d *HostDetail, agentID, rep string) error {
	d.Interfaces = []wire.Interface{}
	return db.each(ctx, "interfaces", `
SELECT name, mac, addrs, mtu, up, loopback FROM host_interfaces FINAL
WHERE agent_id = ? AND report_id = ? ORDER BY name`, func(rows driver.Rows) error {
		var ifc wire.Interface
		var mtu uint32
		var up, lo uint8
		if err := rows.Scan(&ifc.Name, &ifc.MAC, &ifc.Addrs, &mtu, &up, &lo); err != nil {
			return err
		}
		ifc.MTU, ifc.Up, ifc.Loopback = int(mtu), up != 0, lo != 0
		if len(ifc.Addrs) == 0 {
			ifc.Addrs = nil
		}
		d.Interfaces = append(d.Interfaces, ifc)
		if ifc.MAC != "" {
			d.Host.MACs = append(d.Host.MACs, ifc.MAC)
		}
		if !ifc.Loopback {
			d.Host.Addresses = append(d.Host.Addresses, ifc.Addrs...)
		}
		return nil
	}, agentID, rep)
}

func (db *DB) hostHardware(ctx context.Context, d *HostDetail, agentID, rep string) error {
	return db.each(ctx, "hardware", `
SELECT system_vendor, system_model, system_family, system_version, system_sku, system_serial, system_uuid, chassis, asset_tag,
    bios_vendor, bios_version, bios_date, board_vendor, board_model, board_version, board_serial, board_asset_tag,
    disk_name, disk_model, disk_vendor, disk_serial, disk_firmware, disk_size_bytes, disk_kind, disk_removable,
    mem_locator, mem_size_bytes, mem_type, mem_speed_mts, mem_manufacturer, mem_part_number, mem_serial,
    mem_bank, mem_configured_speed_mts, memory_slots, memory_max_bytes,
    monitor_port, monitor_maker, monitor_product_code, monitor_model, monitor_serial, monitor_year, monitor_week,
    monitor_width_cm, monitor_height_cm,
    battery_name, battery_manufacturer, battery_model, battery_serial, battery_chemistry, battery_design_capacity,
    battery_full_capacity, battery_capacity_unit, battery_cycle_count, battery_status
FROM host_hardware FINAL WHERE agent_id = ? AND report_id = ?`, func(rows driver.Rows) error {
		hw := &wire.Hardware{}
		s, b, m := &hw.System, &hw.BIOS, &hw.Baseboard
		var (
			dName, dModel, dVendor, dSerial, dFirmware, dKind               []string
			dSize                                                           []uint64
			dRemovable                                                      []uint8
			mLocator, mType, mManufacturer, mPart, mSerial, mBank           []string
			mSize                                                           []uint64
			mSpeed, mConfSpeed                                              []uint32
			memSlots                                                        uint32
			monPort, monMaker, monCode, monModel, monSerial                 []string
			monYear                                                         []uint16
			monWeek                                                         []uint8
			monWidth, monHeight                                             []uint32
			batName, batManufacturer, batModel, batSerial, batChem, batUnit []string
			batStatus                                                       []string
			batDesign, batFull                                              []int64
			batCycles                                                       []uint32
		)
		if err := rows.Scan(&s.Vendor, &s.Model, &s.Family, &s.Version, &s.SKU, &s.Serial, &s.UUID, &s.Chassis, &s.AssetTag,
			&b.Vendor, &b.Version, &b.Date, &m.Vendor, &m.Model, &m.Version, &m.Serial, &m.AssetTag,
			&dName, &dModel, &dVendor, &dSerial, &dFirmware, &dSize, &dKind, &dRemovable,
			&mLocator, &mSize, &mType, &mSpeed, &mManufacturer, &mPart, &mSerial,
			&mBank, &mConfSpeed, &memSlots, &hw.MemoryMaxBytes,
			&monPort, &monMaker, &monCode, &monModel, &monSerial, &monYear, &monWeek, &monWidth, &monHeight,
			&batName, &batManufacturer, &batModel, &batSerial, &batChem, &batDesign, &batFull, &batUnit, &batCycles, &batStatus); err != nil {
			return err
		}
		for i := range dName {
			hw.Disks = append(hw.Disks, wire.Disk{Name: dName[i], Model: at(dModel, i), Vendor: at(dVendor, i), Serial: at(dSerial, i),
				Firmware: at(dFirmware, i), SizeBytes: at(dSize, i), Kind: at(dKind, i), Removable: at(dRemovable, i) != 0})
		}
		for i := range mLocator {
			hw.MemoryModules = append(hw.MemoryModules, wire.MemoryModule{Locator: mLocator[i], SizeBytes: at(mSize, i),
				Type: at(mType, i), SpeedMTs: int(at(mSpeed, i)), Manufacturer: at(mManufacturer, i), PartNumber: at(mPart, i),
				Serial: at(mSerial, i), Bank: at(mBank, i), ConfiguredSpeedMTs: int(at(mConfSpeed, i))})
		}
		hw.MemorySlots = int(memSlots)
		for i := range monPort {
			hw.Monitors = append(hw.Monitors, wire.Monitor{Port: monPort[i], Maker: at(monMaker, i), ProductCode: at(monCode, i),
				Model: at(monModel, i), Serial: at(monSerial, i), Year: int(at(monYear, i)), Week: int(at(monWeek, i)),
				WidthCm: int(at(monWidth, i)), HeightCm: int(at(monHeight, i))})
		}
		for i := range batName {
			hw.Batteries = append(hw.Batteries, wire.Battery{Name: batName[i], Manufacturer: at(batManufacturer, i),
				Model: at(batModel, i), Serial: at(batSerial, i), Chemistry: at(batChem, i), DesignCapacity: at(batDesign, i),
				FullCapacity: at(batFull, i), CapacityUnit: at(batUnit, i), CycleCount: int(at(batCycles, i)), Status: at(batStatus, i)})
		}
		d.Hardware = hw
		return nil
	}, agentID, rep)
}

// at is s[i], or the zero value when a parallel array is short.
func at[T any](s []T, i int) T {
	var zero T
	if i < len(s) {
		return s[i]
	}
	return zero
}

func (db *DB) hostUsers(ctx context.Context, d *HostDetail, agentID, rep string) error {
	d.Users = []wire.User{}
	return db.each(ctx, "users", `
SELECT name, uid, full_name, home, shell, system_account, disabled, admin, last_logon FROM host_users FINAL
WHERE agent_id = ? AND report_id = ? ORDER BY idx`, func(rows driver.Rows) error {
		var u wire.User
		var sys, dis, adm uint8
		if err := rows.Scan(&u.Name, &u.ID, &u.FullName, &u.Home, &u.Shell, &sys, &dis, &adm, &u.LastLogon); err != nil {
			return err
		}
		u.System, u.Disabled, u.Admin, u.LastLogon = sys != 0, dis != 0, adm != 0, zeroEpoch(u.LastLogon)
		d.Users = append(d.Users, u)
		return nil
	}, agentID, rep)
}

func (db *DB) hostSessions(ctx context.Context, d *HostDetail, agentID, rep string) error {
	d.Sessions = []wire.Session{}
	return db.each(ctx, "sessions", `
SELECT user, terminal, remote, since FROM host_sessions FINAL
WHERE agent_id = ? AND report_id = ? ORDER BY idx`, func(rows driver.Rows) error {
		var s wire.Session
		if err := rows.Scan(&s.User, &s.Terminal, &s.Remote, &s.Since); err != nil {
			return err
		}
		s.Since = zeroEpoch(s.Since)
		d.Sessions = append(d.Sessions, s)
		return nil
	}, agentID, rep)
}

func (db *DB) hostServices(ctx context.Context, d *HostDetail, agentID, rep string) error {
	d.Services = []wire.Service{}
	return db.each(ctx, "services", `
SELECT name, display_name, manager, state, start_mode, path, user FROM host_services FINAL
WHERE agent_id = ? AND report_id = ? ORDER BY idx`, func(rows driver.Rows) error {
		var s wire.Service
		if err := rows.Scan(&s.Name, &s.DisplayName, &s.Manager, &s.State, &s.StartMode, &s.Path, &s.User); err != nil {
			return err
		}
		d.Services = append(d.Services, s)
		return nil
	}, agentID, rep)
}

func (db *DB) hostListeners(ctx context.Context, d *HostDetail, agentID, rep string) error {
	d.Listeners = []wire.Listener{}
	return db.each(ctx, "listeners", `
SELECT protocol, address, port, pid, process, user FROM host_listeners FINAL
WHERE agent_id = ? AND report_id = ? ORDER BY idx`, func(rows driver.Rows) error {
		var l wire.Listener
		var port uint16
		var pid uint32
		if err := rows.Scan(&l.Protocol, &l.Address, &port, &pid, &l.Process, &l.User); err != nil {
			return err
		}
		l.Port, l.PID = int(port), int(pid)
		d.Listeners = append(d.Listeners, l)
		return nil
	}, agentID, rep)
}

func (db *DB) hostSecurity(ctx context.Context, d *HostDetail, agentID, rep string) error {
	return db.each(ctx, "security posture", `
SELECT kind, name, method, enabled, up_to_date, detail FROM host_security FINAL
WHERE agent_id = ? AND report_id = ? ORDER BY kind, idx`, func(rows driver.Rows) error {
		var kind, name, method, detail string
		var enabled, upToDate uint8
		if err := rows.Scan(&kind, &name, &method, &enabled, &upToDate, &detail); err != nil {
			return err
		}
		if d.Security == nil {
			d.Security = &wire.Security{}
		}
		s := d.Security
		switch kind {
		case postureEncryption:
			s.Encryption = append(s.Encryption, wire.VolumeEncryption{Volume: name, Method: method, Encrypted: enabled != 0, Status: detail})
		case postureFirewall:
			s.Firewalls = append(s.Firewalls, wire.Firewall{Name: name, Enabled: enabled != 0, Detail: detail})
		case postureAntivirus:
			s.Antivirus = append(s.Antivirus, wire.Antivirus{Name: name, Enabled: enabled != 0, UpToDate: upToDate != 0, Detail: detail})
		}
		return nil
	}, agentID, rep)
}

func (db *DB) hostSoftware(ctx context.Context, d *HostDetail, agentID, _ string) error {
	sw := &d.Software
	sw.Packages = []wire.Package{}
	var chain []string
	if err := db.each(ctx, "software chain", softwareChainQuery, func(rows driver.Rows) error {
		var agent string
		return rows.Scan(&agent, &chain)
	}, agentID, agentID); err != nil {
		return err
	}
	if len(chain) == 0 {
		return nil
	}
	sw.AsOfReportID = chain[len(chain)-1]
	if err := db.each(ctx, "software", `
SELECT source, key_id, arch, scope, c_name, c_package_id, c_version, c_publisher, c_install_date, c_size_bytes, c_location
FROM (`+currentSoftwareQuery+`)
ORDER BY source, c_name, key_id, arch, scope`, func(rows driver.Rows) error {
		var p wire.Package
		var keyID string
		if err := rows.Scan(&p.Source, &keyID, &p.Arch, &p.Scope, &p.Name, &p.ID, &p.Version, &p.Publisher,
			&p.InstallDate, &p.SizeBytes, &p.Location); err != nil {
			return err
		}
		p.InstallDate = zeroEpoch(p.InstallDate)
		sw.Packages = append(sw.Packages, p)
		return nil
	}, agentID, agentID, agentID, agentID); err != nil {
		return err
	}
	var digest string
	err := db.conn.QueryRow(ctx, "SELECT software_digest FROM host_details FINAL WHERE agent_id = ? AND report_id = ?",
		agentID, sw.AsOfReportID).Scan(&digest)
	if err != nil {
		return fmt.Errorf("reading software digest: %w", classify(err))
	}
	sw.Verified = digest == wire.SoftwareDigest(sw.Packages)
	return nil
}

// ObservationFilter selects observations.
type ObservationFilter struct {
	// Address keeps observations of this IP or MAC address; empty keeps all.
	Address string
	// Since keeps observations made at or after it.
	Since time.Time
	// Limit bounds the rows; zero means 10000.
	Limit int
}

func (f *ObservationFilter) defaults() {
	if f.Limit <= 0 {
		f.Limit = 10000
	}
}

// Device is what discovery saw of one device: its observations grouped by
// MAC address, or by IP address for those without one. It is evidence,
// not yet an identity: reconciliation decides which devices are one.
type Device struct {
	MAC      string
	MACLocal bool
	// IP is the latest address seen; IPs every address seen.
	IP  string
	IPs []string
	// Hostname, Vendor, Model, Serial and Kind are the latest seen.
	Hostname string
	Vendor   string
	Model    string
	Serial   string
	Kind     string
	// KindReason is why Kind was chosen.
	KindReason   string
	OpenPorts    []int
	Methods      []string
	Observers    []string
	FirstSeen    time.Time
	LastSeen     time.Time
	Observations uint64
}

// Devices lists the devices discovery has seen, most recently seen first.
func (db *DB) Devices(ctx context.Context, f ObservationFilter) ([]Device, error) {
	f.defaults()
	out := []Device{}
	err := db.each(ctx, "devices", `
SELECT any(mac), max(mac_local), argMaxIf(ip, observed_at, ip != ''), groupUniqArrayIf(ip, ip != ''),
    argMaxIf(hostname, observed_at, hostname != ''), argMaxIf(vendor, observed_at, vendor != ''),
    argMaxIf(model, observed_at, model != ''), argMaxIf(serial, observed_at, serial != ''),
    argMaxIf(kinds[1], observed_at, notEmpty(kinds)), argMaxIf(kind_reasons[1], observed_at, notEmpty(kinds)),
    groupUniqArrayArray(open_ports), groupUniqArray(method), groupUniqArray(observer),
    min(observed_at), max(observed_at) AS last_seen, count()
FROM observations FINAL
WHERE (? = '' OR ip = ? OR mac = ?) AND observed_at >= ?
GROUP BY if(mac != '', mac, ip) AS device
ORDER BY last_seen DESC, device
LIMIT ?`, func(rows driver.Rows) error {
		var d Device
		var local uint8
		var ports []uint16
		if err := rows.Scan(&d.MAC, &local, &d.IP, &d.IPs, &d.Hostname, &d.Vendor, &d.Model, &d.Serial, &d.Kind,
			&d.KindReason, &ports, &d.Methods, &d.Observers, &d.FirstSeen, &d.LastSeen, &d.Observations); err != nil {
			return err
		}
		d.MACLocal = local != 0
		for _, p := range ports {
			d.OpenPorts = append(d.OpenPorts, int(p))
		}
		sort.Ints(d.OpenPorts)
		sort.Strings(d.IPs)
		sort.Strings(d.Methods)
		sort.Strings(d.Observers)
		out = append(out, d)
		return nil
	}, f.Address, f.Address, f.Address, dateTime(f.Since), uint64(f.Limit))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// StoredObservation is an observation with the report that carried it.
type StoredObservation struct {
	wire.Observation
	AgentID    string
	ReportID   string
	ReceivedAt time.Time
}

// Observations lists observations, the latest first.
func (db *DB) Observations(ctx context.Context, f ObservationFilter) ([]StoredObservation, error) {
	f.defaults()
	out := []StoredObservation{}
	err := db.each(ctx, "observations", `
SELECT observed_at, received_at, agent_id, report_id, observer, method, ip, mac, mac_local, hostname, vendor, model,
    serial, via, port, open_ports, rtt_us, kinds, kind_reasons, evidence_keys, evidence_values
FROM observations FINAL
WHERE (? = '' OR ip = ? OR mac = ?) AND observed_at >= ?
ORDER BY observed_at DESC, report_id, idx
LIMIT ?`, func(rows driver.Rows) error {
		var o StoredObservation
		var method string
		var local uint8
		var ports []uint16
		var rtt uint64
		var kinds, reasons, keys, values []string
		if err := rows.Scan(&o.ObservedAt, &o.ReceivedAt, &o.AgentID, &o.ReportID, &o.Observer, &method, &o.IP, &o.MAC,
			&local, &o.Hostname, &o.Vendor, &o.Model, &o.Serial, &o.Via, &o.Port, &ports, &rtt,
			&kinds, &reasons, &keys, &values); err != nil {
			return err
		}
		o.Method, o.MACLocal, o.RTTMicros = wire.Method(method), local != 0, int64(min(rtt, 1<<62))
		for _, p := range ports {
			o.OpenPorts = append(o.OpenPorts, int(p))
		}
		for i := range kinds {
			o.Kinds = append(o.Kinds, wire.KindHint{Kind: kinds[i], Reason: at(reasons, i)})
		}
		for i := range keys {
			o.Evidence = append(o.Evidence, wire.Evidence{Key: keys[i], Value: at(values, i)})
		}
		out = append(out, o)
		return nil
	}, f.Address, f.Address, f.Address, dateTime(f.Since), uint64(f.Limit))
	if err != nil {
		return nil, err
	}
	return out, nil
}
