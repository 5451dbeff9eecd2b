package cli

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// run runs the command line in-process.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestInventoryJSON(t *testing.T) {
	code, out, errs := run(t, "inventory", "--json")
	if code != 0 {
		t.Fatalf("inventory --json exited %d: %s", code, errs)
	}
	var inv wire.Inventory
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&inv); err != nil {
		t.Fatalf("inventory --json output does not decode as wire.Inventory: %v\n%s", err, out)
	}
	if inv.Host.Hostname == "" || inv.CollectedAt.IsZero() {
		t.Errorf("inventory --json = %+v, want a hostname and a collection time", inv)
	}
}

func TestInventorySummary(t *testing.T) {
	code, out, errs := run(t, "inventory")
	if code != 0 {
		t.Fatalf("inventory exited %d: %s", code, errs)
	}
	host, _ := os.Hostname()
	for _, want := range []string{"hostname", host, "os ", "cpu ", "memory ", "interfaces ("} {
		if !strings.Contains(out, want) {
			t.Errorf("inventory summary lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteSummary(t *testing.T) {
	inv := &wire.Inventory{
		CollectedAt: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Host:        wire.Host{Hostname: "pc-1", Virtualization: "kvm", VirtualizationRole: "guest"},
		OS:          wire.OS{Family: "linux", Platform: "debian", Version: "12.5", Kernel: "6.1.0", Arch: "x86_64"},
		CPU:         wire.CPU{Model: "Xeon", Cores: 4, Threads: 8},
		Memory:      wire.Memory{TotalBytes: 16 << 30},
		Interfaces:  []wire.Interface{{Name: "eth0", MAC: "00:1a:2b:3c:4d:5e", Addrs: []string{"192.0.2.7/24"}, Up: true}, {Name: "wlan0"}},
		Errors:      []wire.SourceError{{Source: "host", Error: "reading host id: permission denied", Unavailable: true}},
		Hardware: &wire.Hardware{MemorySlots: 4, MemoryModules: []wire.MemoryModule{
			{Locator: "DIMM_A1", Bank: "P0 CHANNEL A", SizeBytes: 8 << 30, Type: "DDR5", SpeedMTs: 5600, ConfiguredSpeedMTs: 4800, Manufacturer: "Kingston"},
			{Locator: "DIMM_B1", SizeBytes: 8 << 30, Type: "DDR5", SpeedMTs: 5600, PartNumber: "KF556C40-8"}}},
	}
	var b bytes.Buffer
	if err := writeSummary(&b, inv); err != nil {
		t.Fatal(err)
	}
	want := `hostname        pc-1
host id         -
os              linux debian 12.5
kernel          6.1.0 x86_64
virtualisation  kvm guest
cpu             Xeon (4 cores, 8 threads)
memory          16.0 GiB
memory modules  2 of 4 slots: P0 CHANNEL A/DIMM_A1 8 GiB DDR5 4800 MT/s Kingston; DIMM_B1 8 GiB DDR5 5600 MT/s KF556C40-8

interfaces (2)
  eth0   up    00:1a:2b:3c:4d:5e  192.0.2.7/24
  wlan0  down  -                  -

errors (1)
  host: reading host id: permission denied (unavailable: needs more privilege)

collected at 2025-03-01 12:00:00 UTC
`
	if got := b.String(); got != want {
		t.Errorf("writeSummary() =\n%s\nwant\n%s", got, want)
	}
}

// collector is a fake collector that keeps every report it receives.
type collector struct {
	t       *testing.T
	status  int
	answer  any
	mu      sync.Mutex
	reports []*wire.Report
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		c.t.Errorf("body is not gzip: %v", err)
		return
	}
	rep, err := wire.Decode(zr, wire.DefaultLimits, time.Now())
	if err != nil {
		c.t.Errorf("collector could not take the report: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.reports = append(c.reports, rep)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(c.status)
	_ = json.NewEncoder(w).Encode(c.answer)
}

func TestRunOnce(t *testing.T) {
	col := &collector{t: t, status: http.StatusAccepted, answer: wire.Accepted{}}
	srv := httptest.NewServer(col)
	defer srv.Close()
	dir := filepath.Join(t.TempDir(), "state")

	sentLine := regexp.MustCompile(`^sent inventory report ([0-9a-f-]{36}) \(\d+ bytes\)\n$`)
	var reportIDs []string
	for i := range 2 {
		code, out, errs := run(t, "run", "--once", "--collector", srv.URL, "--state-dir", dir, "--timeout", "20s")
		if code != 0 {
			t.Fatalf("run %d exited %d: %s", i, code, errs)
		}
		m := sentLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("run %d printed %q, want %s", i, out, sentLine)
		}
		reportIDs = append(reportIDs, m[1])
	}

	if len(col.reports) != 2 {
		t.Fatalf("collector received %d reports, want 2", len(col.reports))
	}
	first, second := col.reports[0], col.reports[1]
	if first.AgentID != second.AgentID {
		t.Errorf("agent id changed between runs: %q then %q", first.AgentID, second.AgentID)
	}
	if first.ID == second.ID || first.ID != reportIDs[0] || second.ID != reportIDs[1] {
		t.Errorf("report ids %q, %q; printed %q: want fresh ids, as printed", first.ID, second.ID, reportIDs)
	}
	if first.Kind != wire.KindInventory || first.Schema != wire.Schema || first.Inventory.Host.Hostname == "" {
		t.Errorf("report = %+v, want a schema %d inventory with a hostname", first, wire.Schema)
	}
	saved, err := os.ReadFile(filepath.Join(dir, "agent-id"))
	if err != nil || strings.TrimSpace(string(saved)) != first.AgentID {
		t.Errorf("agent-id file holds %q (%v), want %q", saved, err, first.AgentID)
	}
}

func TestRunOnceRefused(t *testing.T) {
	col := &collector{t: t, status: http.StatusUnprocessableEntity,
		answer: wire.Problem{Error: "invalid report: two problems", Problems: []string{"first problem", "second problem"}}}
	srv := httptest.NewServer(col)
	defer srv.Close()

	code, out, errs := run(t, "run", "--once", "--collector", srv.URL, "--state-dir", t.TempDir())
	if code != 1 || out != "" {
		t.Errorf("run against a refusing collector exited %d with stdout %q, want 1 and nothing", code, out)
	}
	want := "umbra-agent run: collector refused report: 422 Unprocessable Entity: invalid report: two problems\n" +
		"  first problem\n  second problem\n"
	if errs != want {
		t.Errorf("stderr =\n%s\nwant\n%s", errs, want)
	}
}

func TestRunOnceCorruptAgentID(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent-id")
	if err := os.WriteFile(path, []byte("oops, not an id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := run(t, "run", "--once", "--collector", "http://127.0.0.1:1", "--state-dir", dir)
	if code != 1 || !strings.Contains(errs, path) {
		t.Errorf("run with a corrupt agent id exited %d: %q, want 1 and an error naming %s", code, errs, path)
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string // in stderr
	}{
		{nil, 2, "Usage:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"inventory", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"inventory", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"version", "--json"}, 2, "not defined"},
		{[]string{"run", "--collector", "http://127.0.0.1:1", "--log-level", "loud"}, 2, "--log-level"},
		{[]string{"run", "--once"}, 2, "--collector is required"},
		{[]string{"run", "--once", "--collector", "ftp://x"}, 2, "want http:// or https://"},
		{[]string{"run", "--once", "--collector", "http://127.0.0.1:1", "--timeout", "0s"}, 2, "--timeout must be positive"},
		{[]string{"run", "--once", "--collector", "http://127.0.0.1:1", "--timeout", "soon"}, 2, "invalid value"},
		{[]string{"run", "-h"}, 0, "Usage: umbra-agent run"},
		{[]string{"inventory", "-h"}, 0, "--json"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errs := run(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(errs, tt.wantErr) {
				t.Errorf("Run(%q) = %d, stderr %q; want %d and %q", tt.args, code, errs, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	if code, out, _ := run(t, "version"); code != 0 || !strings.HasPrefix(out, "umbra-agent ") {
		t.Errorf("version = %d %q", code, out)
	}
	if code, out, _ := run(t, "help"); code != 0 || !strings.Contains(out, "inventory") {
		t.Errorf("help = %d %q", code, out)
	}
}
