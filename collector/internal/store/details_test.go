package store_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
	"github.com/umbrasec/umbra/shared/wire"
)

// hostile is a device-supplied string that must be stored verbatim.
const hostile = "x'); DROP TABLE inventories; --\x00\x1b[31m\\\"\u202e\xff"

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func fullInventory(agent, id string, at time.Time, pkgs []wire.Package) *wire.Report {
	return &wire.Report{
		Schema: wire.Schema, ID: id, Kind: wire.KindInventory, AgentID: agent, AgentVersion: "1.0", CreatedAt: at,
		Inventory: &wire.Inventory{
			CollectedAt: at, Full: true,
			Host:     wire.Host{HostID: "hid-" + agent, Hostname: agent + ".example", FQDN: agent + ".corp.example", Domain: "corp.example"},
			OS:       wire.OS{Family: "linux", Platform: "debian", Version: "12.5", Build: "b1", TimeZone: "Europe/Paris", UTCOffsetSeconds: 7200, InstallDate: t0.AddDate(-1, 0, 0)},
			CPU:      wire.CPU{Model: "Xeon", Vendor: "GenuineIntel", Sockets: 1, Cores: 4, Threads: 8, MHz: 2400.5},
			Memory:   wire.Memory{TotalBytes: 16 << 30},
			Software: pkgs,
		},
	}
}

func store1(t *testing.T, db *store.DB, at time.Time, rs ...*wire.Report) {
	t.Helper()
	var batch []store.Received
	for _, r := range rs {
		batch = append(batch, store.Received{At: at, Report: r, Size: 100})
	}
	if _, err := db.StoreReports(ctxT(t), batch); err != nil {
		t.Fatalf("StoreReports: %v", err)
	}
}

func TestHostDetailRoundTrip(t *testing.T) {
	db := storetest.New(t)
	ctx := ctxT(t)
	r := fullInventory("agent-1", "rep-1", t0, []wire.Package{
		{Name: hostile, Version: "1.0" + hostile, Publisher: hostile, Arch: "amd64", Source: wire.SourceDpkg, InstallDate: t0.Add(-time.Hour), SizeBytes: 42},
		{Name: "Same Name", ID: "{GUID-1}", Source: wire.SourceWindowsProgram, Scope: "user:S-1-5-21"},
		{Name: "Same Name", ID: "{GUID-2}", Source: wire.SourceWindowsProgram, Location: `C:\Program Files\x`},
	})
	inv := r.Inventory
	inv.Host.Workgroup = hostile
	inv.Interfaces = []wire.Interface{
		{Name: "eth0", MAC: "00:11:22:aa:bb:cc", Addrs: []string{"192.0.2.7/24"}, MTU: 1500, Up: true, Kind: "wired"},
		{Name: "lo", Addrs: []string{"127.0.0.1/8"}, Up: true, Loopback: true, Kind: "loopback"},
	}
	inv.Host.Gateways = []string{"192.0.2.1", "fe80::1"}
	inv.Host.DNSServers = []string{"192.0.2.53"}
	inv.Hardware = &wire.Hardware{
		System:    wire.System{Vendor: "Dell Inc.", Model: "Latitude 7440", Serial: hostile, UUID: "4c4c4544-0000", Chassis: "laptop", AssetTag: "A-1"},
		BIOS:      wire.BIOS{Vendor: "Dell", Version: "1.2.3", Date: "2024-01-02"},
		Baseboard: wire.Baseboard{Vendor: "Dell", Model: "0XYZ", Serial: "BB1"},
		Disks: []wire.Disk{
			{Name: "nvme0n1", Model: "PM9A1", Serial: "S1", SizeBytes: 512 << 30, Kind: wire.DiskNVMe},
			{Name: "sda", SizeBytes: 1, Kind: wire.DiskUSB, Removable: true},
		},
		MemoryModules: []wire.MemoryModule{{Locator: "DIMM A1", Bank: "P0 CHANNEL A", SizeBytes: 8 << 30, Type: "DDR5", SpeedMTs: 5600,
			ConfiguredSpeedMTs: 4800, Manufacturer: "Samsung", PartNumber: "M1", Serial: "MS1"}},
		MemorySlots: 4, MemoryMaxBytes: 128 << 30,
		Monitors:  []wire.Monitor{{Port: "card0-DP-1", Maker: "DEL", ProductCode: "a0b1", Model: "U2720Q", Serial: hostile, Year: 2021, Week: 12, WidthCm: 60, HeightCm: 34}},
		Batteries: []wire.Battery{{Name: "BAT0", Manufacturer: "SMP", DesignCapacity: 57000, FullCapacity: 51000, CapacityUnit: "mWh", CycleCount: 120, Status: "charging"}},
	}
	inv.Users = []wire.User{
		{Name: "root", ID: "0", Home: "/root", Shell: "/bin/bash", Admin: true, System: true},
		{Name: hostile, ID: "1000", FullName: hostile, Disabled: true, LastLogon: t0.Add(-24 * time.Hour)},
	}
	inv.Sessions = []wire.Session{{User: "alice", Terminal: "pts/0", Remote: "198.51.100.9", Since: t0.Add(-time.Minute)}}
	inv.Services = []wire.Service{{Name: "sshd.service", DisplayName: "OpenSSH", Manager: "systemd", State: "running", StartMode: "auto", Path: "/usr/sbin/sshd", User: "root"}}
	inv.Listeners = []wire.Listener{
		{Protocol: "tcp", Address: "0.0.0.0", Port: 22, PID: 812, Process: "sshd", User: "root"},
		{Protocol: "udp", Address: "::", Port: 5353, Process: hostile},
	}
	inv.Security = &wire.Security{
		Encryption: []wire.VolumeEncryption{{Volume: "/", Method: "luks", Encrypted: true, Status: "active"}},
		Firewalls:  []wire.Firewall{{Name: "nftables", Enabled: true, Detail: "12 rules"}},
		Antivirus:  []wire.Antivirus{{Name: "ClamAV", Enabled: true, UpToDate: true}},
	}
	inv.Errors = []wire.SourceError{{Source: "rpm", Error: "no database"}, {Source: "smbios", Error: "needs root", Unavailable: true}}

	// The same report twice in one batch and once more later: stored once.
	store1(t, db, t0.Add(time.Minute), r, r)
	store1(t, db, t0.Add(2*time.Minute), r)

	d, err := db.HostDetail(ctx, "agent-1")
	if err != nil {
		t.Fatalf("HostDetail: %v", err)
	}
	if d.Host.ReportID != "rep-1" || d.Host.Hostname != "agent-1.example" || d.Host.Reports != 1 || d.Host.CPUCores != 4 {
		t.Errorf("HostDetail host = %+v", d.Host)
	}
	if d.FQDN != inv.Host.FQDN || d.Domain != inv.Host.Domain || d.Workgroup != hostile || d.OSBuild != "b1" ||
		d.TimeZone != "Europe/Paris" || d.UTCOffsetSeconds != 7200 || !d.OSInstallDate.Equal(inv.OS.InstallDate) ||
		d.CPUVendor != "GenuineIntel" || d.CPUSockets != 1 || d.CPUMHz != 2400.5 {
		t.Errorf("HostDetail details = %+v", d)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"interfaces", d.Interfaces, inv.Interfaces},
		{"gateways", d.Gateways, inv.Host.Gateways},
		{"dns servers", d.DNSServers, inv.Host.DNSServers},
		{"hardware", d.Hardware, inv.Hardware},
		{"users", d.Users, inv.Users},
		{"sessions", d.Sessions, inv.Sessions},
		{"services", d.Services, inv.Services},
		{"listeners", d.Listeners, inv.Listeners},
		{"security", d.Security, inv.Security},
		{"errors", d.Errors, inv.Errors},
		{"macs", d.Host.MACs, []string{"00:11:22:aa:bb:cc"}},
		{"addresses", d.Host.Addresses, []string{"192.0.2.7/24"}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("HostDetail %s =\n %#v\nwant\n %#v", c.name, c.got, c.want)
		}
	}
	sw := d.Software
	if sw.Mode != store.SoftwareFull || sw.AsOfReportID != "rep-1" || !sw.Verified || len(sw.Packages) != 3 {
		t.Fatalf("HostDetail software = %+v", sw)
	}
	byID := map[string]wire.Package{}
	for _, p := range sw.Packages {
		byID[p.Key().ID] = p
	}
	for _, p := range inv.Software {
		if got := byID[p.Key().ID]; !reflect.DeepEqual(got, p) {
			t.Errorf("package %q = %#v, want %#v", p.Key().ID, got, p)
		}
	}

	if _, err := db.HostDetail(ctx, "no-such-agent"); err == nil {
		t.Error("HostDetail of an unknown agent succeeded")
	}
}

func pkg(name, version string) wire.Package {
	return wire.Package{Name: name, Version: version, Source: wire.SourceDpkg, Arch: "amd64", Publisher: "Debian"}
}

func softwareOf(t *testing.T, db *store.DB, f store.SoftwareFilter) map[string]store.SoftwareSummary {
	t.Helper()
	list, err := db.Software(ctxT(t), f)
	if err != nil {
		t.Fatalf("Software(%+v): %v", f, err)
	}
	m := map[string]store.SoftwareSummary{}
	for _, s := range list {
		if _, dup := m[s.Name]; dup {
			t.Errorf("Software lists %q twice", s.Name)
		}
		m[s.Name] = s
	}
	return m
}

func delta(base string, prev, cur []wire.Package, added, changed []wire.Package, removed ...wire.PackageKey) *wire.SoftwareDelta {
	return &wire.SoftwareDelta{BaseReportID: base, BaseDigest: wire.SoftwareDigest(prev), Digest: wire.SoftwareDigest(cur),
		Added: added, Changed: changed, Removed: removed}
}

func TestSoftwareFleetAndDeltas(t *testing.T) {
	db := storetest.New(t)
	ctx := ctxT(t)

	// agent-a: a full list, then a delta, then a delta of the delta.
	a1 := []wire.Package{pkg("curl", "7.88"), pkg("openssl", "3.0.11"), pkg("vim", "9.0")}
	a2 := []wire.Package{pkg("curl", "8.5"), pkg("vim", "9.0"), pkg("firefox-esr", "115")}
	a3 := []wire.Package{pkg("curl", "8.5"), pkg("firefox-esr", "115"), pkg("Vim", "9.1")}
	ra1 := fullInventory("agent-a", "a-1", t0, a1)
	ra2 := fullInventory("agent-a", "a-2", t0.Add(time.Hour), nil)
	ra2.Inventory.Full = false
	ra2.Inventory.SoftwareDelta = delta("a-1", a1, a2, []wire.Package{pkg("firefox-esr", "115")}, []wire.Package{pkg("curl", "8.5")},
		pkg("openssl", "").Key())
	// agent-b: openssl and curl, stored twice.
	rb1 := fullInventory("agent-b", "b-1", t0, []wire.Package{pkg("openssl", "3.0.13"), pkg("curl", "7.88")})

	store1(t, db, t0.Add(time.Minute), ra1, rb1)
	store1(t, db, t0.Add(2*time.Hour), ra2, rb1)

	sw := softwareOf(t, db, store.SoftwareFilter{})
	want := map[string]struct {
		installs uint64
		versions []string
	}{
		"curl":        {2, []string{"7.88", "8.5"}},
		"openssl":     {1, []string{"3.0.13"}},
		"vim":         {1, []string{"9.0"}},
		"firefox-esr": {1, []string{"115"}},
	}
	if len(sw) != len(want) {
		t.Errorf("Software = %+v, want %d names", sw, len(want))
	}
	for name, w := range want {
		got := sw[name]
		if got.Installs != w.installs || !reflect.DeepEqual(got.Versions, w.versions) || got.Source != wire.SourceDpkg ||
			!reflect.DeepEqual(got.Publishers, []string{"Debian"}) {
			t.Errorf("Software[%s] = %+v, want %d installs of %v", name, got, w.installs, w.versions)
		}
	}
	d, err := db.HostDetail(ctx, "agent-a")
	if err != nil {
		t.Fatal(err)
	}
	if d.Software.Mode != store.SoftwareDelta || d.Software.AsOfReportID != "a-2" || !d.Software.Verified || len(d.Software.Packages) != 3 {
		t.Errorf("agent-a software after a delta = %+v", d.Software)
	}

	// Filters: a case-insensitive substring and a source; LIKE wildcards
	// are plain characters.
	if got := softwareOf(t, db, store.SoftwareFilter{Name: "URL"}); len(got) != 1 || got["curl"].Installs != 2 {
		t.Errorf("Software(name URL) = %+v", got)
	}
	if got := softwareOf(t, db, store.SoftwareFilter{Name: "%"}); len(got) != 0 {
		t.Errorf("Software(name %%) = %+v, want nothing", got)
	}
	if got := softwareOf(t, db, store.SoftwareFilter{Source: wire.SourceRPM}); len(got) != 0 {
		t.Errorf("Software(source rpm) = %+v, want nothing", got)
	}

	// A delta whose base is not the report before it (a-1, not a-2) does
	// not chain: the software stays as of a-2.
	ra3 := fullInventory("agent-a", "a-3", t0.Add(2*time.Hour), nil)
	ra3.Inventory.Full = false
	ra3.Inventory.SoftwareDelta = delta("a-1", a1, a1, nil, nil, pkg("curl", "").Key())
	store1(t, db, t0.Add(3*time.Hour), ra3)
	if got := softwareOf(t, db, store.SoftwareFilter{}); got["curl"].Installs != 2 || got["firefox-esr"].Installs != 1 {
		t.Errorf("after a broken delta, Software = %+v", got)
	}
	d, err = db.HostDetail(ctx, "agent-a")
	if err != nil {
		t.Fatal(err)
	}
	if d.Host.ReportID != "a-3" || d.Software.AsOfReportID != "a-2" || !d.Software.Verified {
		t.Errorf("after a broken delta, host %s software %+v, want as of a-2", d.Host.ReportID, d.Software)
	}

	// A full list restarts the chain, and a delta on it applies (vim
	// renamed Vim is a removal and an addition).
	ra4 := fullInventory("agent-a", "a-4", t0.Add(3*time.Hour), a2)
	ra5 := fullInventory("agent-a", "a-5", t0.Add(4*time.Hour), nil)
	ra5.Inventory.Full = false
	ra5.Inventory.SoftwareDelta = delta("a-4", a2, a3, []wire.Package{pkg("Vim", "9.1")}, nil, pkg("vim", "").Key())
	store1(t, db, t0.Add(5*time.Hour), ra5, ra4) // the delta first in the batch
	sw = softwareOf(t, db, store.SoftwareFilter{})
	if sw["vim"].Installs != 0 || sw["Vim"].Installs != 1 || sw["curl"].Installs != 2 || sw["openssl"].Installs != 1 {
		t.Errorf("after a new full list and a delta, Software = %+v", sw)
	}
	d, err = db.HostDetail(ctx, "agent-a")
	if err != nil {
		t.Fatal(err)
	}
	if d.Software.AsOfReportID != "a-5" || !d.Software.Verified || len(d.Software.Packages) != 3 {
		t.Errorf("after a-5, software = %+v", d.Software)
	}
}

func TestDevicesAndObservations(t *testing.T) {
	db := storetest.New(t)
	ctx := ctxT(t)
	obs := []wire.Observation{
		{ObservedAt: t0, Method: wire.MethodARP, IP: "192.0.2.10", MAC: "00:11:22:33:44:55", Vendor: "HP"},
		{ObservedAt: t0.Add(time.Second), Method: wire.MethodSNMP, IP: "192.0.2.10", MAC: "00:11:22:33:44:55", Hostname: hostile,
			Model: "LaserJet", Serial: "CN123", OpenPorts: []int{9100, 80}, RTTMicros: 800,
			Kinds:    []wire.KindHint{{Kind: wire.KindPrinter, Reason: "sysObjectID under HP printers"}},
			Evidence: []wire.Evidence{{Key: "snmp.sysDescr", Value: hostile}}},
		{ObservedAt: t0.Add(2 * time.Second), Observer: "agent-z", Method: wire.MethodICMP, IP: "192.0.2.99", RTTMicros: 300},
	}
	r := &wire.Report{Schema: wire.Schema, ID: "disc-1", Kind: wire.KindDiscovery, AgentID: "agent-y", CreatedAt: t0,
		Discovery: &wire.Discovery{StartedAt: t0, FinishedAt: t0.Add(3 * time.Second), Targets: []string{"192.0.2.0/24"},
			Profile: "polite", Observations: obs}}
	store1(t, db, t0.Add(time.Minute), r, r)
	store1(t, db, t0.Add(2*time.Minute), r)

	devs, err := db.Devices(ctx, store.ObservationFilter{})
	if err != nil {
		t.Fatalf("Devices: %v", err)
	}
	if len(devs) != 2 {
		t.Fatalf("Devices = %+v, want 2", devs)
	}
	ping, printer := devs[0], devs[1]
	if ping.IP != "192.0.2.99" || ping.MAC != "" || ping.Observations != 1 || !reflect.DeepEqual(ping.Observers, []string{"agent-z"}) {
		t.Errorf("ICMP-only device = %+v", ping)
	}
	want := store.Device{MAC: "00:11:22:33:44:55", IP: "192.0.2.10", IPs: []string{"192.0.2.10"}, Hostname: hostile, Vendor: "HP",
		Model: "LaserJet", Serial: "CN123", Kind: wire.KindPrinter, KindReason: "sysObjectID under HP printers",
		OpenPorts: []int{80, 9100}, Methods: []string{"arp", "snmp"}, Observers: []string{"agent-y"},
		FirstSeen: t0, LastSeen: t0.Add(time.Second), Observations: 2}
	printer.FirstSeen, printer.LastSeen = printer.FirstSeen.UTC(), printer.LastSeen.UTC()
	if !reflect.DeepEqual(printer, want) {
		t.Errorf("printer =\n %+v\nwant\n %+v", printer, want)
	}

	got, err := db.Observations(ctx, store.ObservationFilter{Address: "00:11:22:33:44:55"})
	if err != nil {
		t.Fatalf("Observations: %v", err)
	}
	if len(got) != 2 || got[0].Method != wire.MethodSNMP || got[0].Evidence[0].Value != hostile || got[0].ReportID != "disc-1" ||
		got[0].Observer != "agent-y" || !reflect.DeepEqual(got[0].OpenPorts, []int{9100, 80}) {
		t.Errorf("Observations(mac) = %+v", got)
	}
	if n, err := db.Count(ctx, "SELECT count() FROM discoveries FINAL"); err != nil || n != 1 {
		t.Errorf("discoveries has %d rows (%v), want 1", n, err)
	}
}
