package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
	"github.com/umbrasec/umbra/shared/wire"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var tables = []string{"reports", "inventories", "host_interfaces"}

func tableExists(t *testing.T, db *store.DB, name string) bool {
	t.Helper()
	n, err := db.Count(ctxT(t), "SELECT count() FROM system.tables WHERE database = ? AND name = ?", db.Database(), name)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestMigrateFresh(t *testing.T) {
	db := storetest.NewEmpty(t)
	ctx := ctxT(t)
	applied, err := db.Migrate(ctx)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(ms) {
		t.Errorf("Migrate applied %v, want all %d migrations", applied, len(ms))
	}
	for _, tbl := range tables {
		if !tableExists(t, db, tbl) {
			t.Errorf("table %s missing after Migrate", tbl)
		}
	}
	recorded, err := db.AppliedMigrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if recorded[m.Version] != m.Checksum {
			t.Errorf("schema_migrations[%d] = %q, want %q", m.Version, recorded[m.Version], m.Checksum)
		}
	}

	// A rerun applies nothing and records nothing.
	again, err := db.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Errorf("second Migrate = %v, %v, want nothing applied", again, err)
	}
	n, err := db.Count(ctx, "SELECT count() FROM schema_migrations")
	if err != nil || n != uint64(len(ms)) {
		t.Errorf("schema_migrations has %d rows (%v), want %d", n, err, len(ms))
	}
}

func TestMigrateInterrupted(t *testing.T) {
	db := storetest.NewEmpty(t)
	ctx := ctxT(t)
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	f, err := db.Features(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stmts, err := ms[0].Statements(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(ctx, "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, checksum String, applied_at DateTime('UTC')) ENGINE = ReplacingMergeTree ORDER BY version"); err != nil {
		t.Fatal(err)
	}
	// The "crash": only the first statement of 0001 ran, nothing recorded.
	if err := db.ApplyStatements(ctx, ms[0], stmts[:1]); err != nil {
		t.Fatal(err)
	}
	if !tableExists(t, db, "reports") || tableExists(t, db, "inventories") {
		t.Fatal("the half-applied migration did not leave the expected state")
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("Migrate after an interrupted run: %v", err)
	}
	for _, tbl := range tables {
		if !tableExists(t, db, tbl) {
			t.Errorf("table %s missing after the rerun", tbl)
		}
	}
	recorded, err := db.AppliedMigrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if recorded[ms[0].Version] != ms[0].Checksum {
		t.Errorf("migration %d not recorded after the rerun", ms[0].Version)
	}
}

func TestMigrateConcurrent(t *testing.T) {
	db := storetest.NewEmpty(t)
	ctx := ctxT(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := db.Migrate(ctx)
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
	recorded, err := db.AppliedMigrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := store.Migrations()
	if len(recorded) != len(ms) {
		t.Errorf("recorded %v, want %d migrations", recorded, len(ms))
	}
}

func TestMigrateServerTablesUseOldTypes(t *testing.T) {
	db := storetest.New(t)
	ctx := ctxT(t)
	v, err := db.ServerVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := store.FeaturesFor(v)
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.Count(ctx, "SELECT count() FROM system.columns WHERE database = ? AND type LIKE 'LowCardinality%'", db.Database())
	if err != nil {
		t.Fatal(err)
	}
	if f.LowCardinality != (n > 0) {
		t.Errorf("server %s: %d LowCardinality columns, features %+v", v, n, f)
	}
}

func report(id, agent string, collected time.Time, hostname string) *wire.Report {
	return &wire.Report{
		Schema:       wire.Schema,
		ID:           id,
		Kind:         wire.KindInventory,
		AgentID:      agent,
		AgentVersion: "v0.1.0",
		CreatedAt:    collected,
		Inventory: &wire.Inventory{
			CollectedAt: collected,
			Full:        true,
			Host:        wire.Host{HostID: "hid-" + agent, Hostname: hostname, BootTime: collected.Add(-time.Hour)},
			OS:          wire.OS{Family: "linux", Platform: "debian", Version: "12.5", Kernel: "6.1.0-18-amd64", Arch: "x86_64"},
			CPU:         wire.CPU{Model: "Intel(R) Xeon(R) CPU", Cores: 4, Threads: 8},
			Memory:      wire.Memory{TotalBytes: 16 << 30},
			Interfaces: []wire.Interface{
				{Name: "lo", Addrs: []string{"127.0.0.1/8", "::1/128"}, Up: true, Loopback: true, MTU: 65536},
				{Name: "eth0", MAC: "00:11:22:aa:bb:cc", Addrs: []string{"192.0.2.7/24", "2001:db8::7/64"}, Up: true, MTU: 1500},
				{Name: "wlan0", MAC: "02:11:22:aa:bb:cd", Up: false},
			},
			Errors: []wire.SourceError{{Source: "dmi", Error: "permission denied", Unavailable: true}},
		},
	}
}

func TestStoreInventoryRoundTrip(t *testing.T) {
	hostile := []struct{ name, hostname string }{
		{"plain", "web-01"},
		{"quotes", `it's "quoted"`},
		{"backslashes", `C:\Users\a\\b\'`},
		{"sql", `'); DROP TABLE reports; --`},
		{"nul", "a\x00b\x00"},
		{"unicode", "ホスト-Ω-🖥️"},
		{"escapes", "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\r\n"},
		{"invalid utf8", "\xff\xfe\xc3"},
	}
	db := storetest.New(t)
	ctx := ctxT(t)
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	want := map[string]string{}
	for i, h := range hostile {
		agent := "agent-" + h.name
		agent = sanitiseID(agent)
		r := report("r-"+agent, agent, base.Add(time.Duration(i)*time.Minute), h.hostname)
		r.Inventory.CPU.Model = h.hostname
		r.Inventory.Errors[0].Error = h.hostname
		dup, err := db.StoreInventory(ctx, base.Add(time.Hour), r)
		if err != nil || dup {
			t.Fatalf("StoreInventory(%s) = %v, %v", h.name, dup, err)
		}
		want[agent] = h.hostname
	}
	hosts, err := db.ListHosts(ctx)
	if err != nil {
		t.Fatalf("ListHosts: %v", err)
	}
	if len(hosts) != len(hostile) {
		t.Fatalf("ListHosts returned %d hosts, want %d", len(hosts), len(hostile))
	}
	for _, h := range hosts {
		if h.Hostname != want[h.AgentID] || h.CPUModel != want[h.AgentID] {
			t.Errorf("host %s: hostname %q cpu %q, want %q verbatim", h.AgentID, h.Hostname, h.CPUModel, want[h.AgentID])
		}
	}
	for _, tbl := range tables {
		if !tableExists(t, db, tbl) {
			t.Errorf("table %s is gone", tbl)
		}
	}
	n, err := db.Count(ctx, "SELECT count() FROM inventories WHERE has(error_messages, ?)", `'); DROP TABLE reports; --`)
	if err != nil || n != 1 {
		t.Errorf("error_messages with the SQL string: %d rows (%v), want 1", n, err)
	}
}

func sanitiseID(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}

func TestListHostsLatestAndDuplicates(t *testing.T) {
	db := storetest.New(t)
	ctx := ctxT(t)
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	recv0 := t0.Add(time.Minute)

	old := report("r-1", "agent-a", t0, "old-name")
	newer := report("r-2", "agent-a", t0.Add(time.Hour), "new-name")
	newer.Inventory.Interfaces = []wire.Interface{{Name: "eth1", MAC: "00:11:22:33:44:55", Addrs: []string{"198.51.100.9/24"}, Up: true}}
	other := report("r-3", "agent-b", t0, "b-host")
	other.Inventory.Interfaces = nil

	// Store the newer one first: "latest" is by collection time, not
	// arrival.
	for i, r := range []*wire.Report{newer, old, other} {
		dup, err := db.StoreInventory(ctx, recv0.Add(time.Duration(i)*time.Minute), r)
		if err != nil || dup {
			t.Fatalf("StoreInventory(%s) = %v, %v", r.ID, dup, err)
		}
	}
	dup, err := db.StoreInventory(ctx, recv0.Add(time.Hour), old)
	if err != nil || !dup {
		t.Fatalf("StoreInventory(retry) = %v, %v, want duplicate", dup, err)
	}
	n, err := db.Count(ctx, "SELECT count() FROM inventories")
	if err != nil || n != 3 {
		t.Errorf("inventories has %d rows (%v), want 3", n, err)
	}

	hosts, err := db.ListHosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 2 {
		t.Fatalf("ListHosts = %+v, want 2 hosts", hosts)
	}
	a, b := hosts[1], hosts[0] // ordered by hostname: b-host, new-name
	if a.AgentID != "agent-a" || b.AgentID != "agent-b" {
		t.Fatalf("ListHosts order = %s, %s", hosts[0].AgentID, hosts[1].AgentID)
	}
	wantA := store.Host{
		AgentID: "agent-a", ReportID: "r-2", HostID: "hid-agent-a", Hostname: "new-name",
		OSFamily: "linux", Platform: "debian", PlatformVersion: "12.5", Kernel: "6.1.0-18-amd64", Arch: "x86_64",
		CPUModel: "Intel(R) Xeon(R) CPU", CPUCores: 4, CPUThreads: 8, MemoryBytes: 16 << 30,
		MACs: []string{"00:11:22:33:44:55"}, Addresses: []string{"198.51.100.9/24"},
		CollectedAt: t0.Add(time.Hour), FirstSeen: recv0, LastSeen: recv0.Add(time.Minute), Reports: 2,
	}
	if !reflect.DeepEqual(normalise(a), wantA) {
		t.Errorf("host a =\n%+v\nwant\n%+v", a, wantA)
	}
	if len(b.MACs) != 0 || len(b.Addresses) != 0 || b.Reports != 1 {
		t.Errorf("host b = %+v, want no MACs or addresses and 1 report", b)
	}

	// A duplicate that slipped past the check (two collectors at once) must
	// not count twice.
	if err := db.InsertRow(ctx, "INSERT INTO inventories (agent_id, report_id, collected_at, received_at, hostname, error_sources, error_messages)",
		"agent-b", "r-3", t0, recv0.Add(2*time.Minute), "b-host", []string{}, []string{}); err != nil {
		t.Fatal(err)
	}
	if err := db.InsertRow(ctx, "INSERT INTO host_interfaces (agent_id, report_id, collected_at, name, mac, addrs)",
		"agent-a", "r-2", t0.Add(time.Hour), "eth1", "00:11:22:33:44:55", []string{"198.51.100.9/24"}); err != nil {
		t.Fatal(err)
	}
	hosts, err = db.ListHosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if hosts[0].Reports != 1 || len(hosts[1].MACs) != 1 || len(hosts[1].Addresses) != 1 {
		t.Errorf("after a slipped duplicate: %+v", hosts)
	}
}

func normalise(h store.Host) store.Host {
	h.CollectedAt = h.CollectedAt.UTC()
	h.FirstSeen = h.FirstSeen.UTC()
	h.LastSeen = h.LastSeen.UTC()
	return h
}

func TestStoreInventoryWildClock(t *testing.T) {
	db := storetest.New(t)
	ctx := ctxT(t)
	now := time.Now().UTC()
	r := report("r-wild", "agent-w", now, "w")
	r.Inventory.CollectedAt = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	r.Inventory.Host.BootTime = time.Time{}
	if _, err := db.StoreInventory(ctx, now, r); err != nil {
		t.Fatalf("StoreInventory with a collected_at in 3000: %v", err)
	}
	hosts, err := db.ListHosts(ctx)
	if err != nil || len(hosts) != 1 {
		t.Fatalf("ListHosts = %v, %v", hosts, err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  store.Config
		ok   bool
	}{
		{"ok", store.Config{Addr: "127.0.0.1:9000", Database: "umbra"}, true},
		{"injection", store.Config{Addr: "127.0.0.1:9000", Database: "umbra; DROP DATABASE x"}, false},
		{"leading digit", store.Config{Addr: "127.0.0.1:9000", Database: "1umbra"}, false},
		{"empty", store.Config{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate(%+v) = %v, want ok=%v", tt.cfg, err, tt.ok)
			}
		})
	}
	if s := store.Secret("hunter2"); s.String() != "[redacted]" {
		t.Errorf("Secret prints %q", s.String())
	}
}

// TestMigrateInterruptedAddColumn: a migration of ADD COLUMN statements
// that stopped half-way (18.16 has no ADD COLUMN IF NOT EXISTS) completes
// on the next start.
func TestMigrateInterruptedAddColumn(t *testing.T) {
	db := storetest.NewEmpty(t)
	ctx := ctxT(t)
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	f, err := db.Features(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var memory store.Migration
	for _, m := range ms {
		if m.Name == "memory" {
			memory = m
		}
	}
	if memory.Version == 0 {
		t.Fatal("no memory migration")
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	stmts, err := memory.Statements(f)
	if err != nil {
		t.Fatal(err)
	}
	// The columns exist now; running the statements again is what a rerun
	// after a crash between two of them does.
	if err := db.ApplyStatements(ctx, memory, stmts); err != nil {
		t.Fatalf("rerunning the ADD COLUMN statements: %v", err)
	}
	// Any other error still fails the migration.
	if err := db.ApplyStatements(ctx, memory, []string{"ALTER TABLE no_such_table ADD COLUMN x UInt8"}); err == nil {
		t.Error("an ADD COLUMN on a missing table passed")
	}
}
