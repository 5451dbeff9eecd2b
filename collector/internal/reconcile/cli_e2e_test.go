package reconcile_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/api"
	"github.com/umbrasec/umbra/collector/internal/cli"
	"github.com/umbrasec/umbra/collector/internal/reconcile"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
)

// TestCLIEndToEnd drives the umbra commands of the register, identity
// resolution and findings against a real API and ClickHouse.
func TestCLIEndToEnd(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	ins := `INSERT INTO observations (observed_at, received_at, agent_id, report_id, idx, observer, method, ip, mac, mac_local, hostname, vendor, model, serial,
via, port, open_ports, rtt_us, kinds, kind_reasons, evidence_keys, evidence_values)`
	row := func(rep, method, ip, mac, host, vendor, via, port string) []any {
		return []any{now, now, "agent-x", rep, uint32(0), "agent-x", method, ip, mac, uint8(0), host, vendor, "", "", via, port, []uint16{}, uint64(0),
			[]string{"iot"}, []string{"oui"}, []string{}, []string{}}
	}
	if err := db.InsertRows(ctx, ins, [][]any{
		row("r1", "arp", "10.0.0.9", "b8:27:eb:00:00:09", "=cmd|' /C calc'!A0", "Raspberry Pi", "", ""),
		row("r2", "snmp-fdb", "", "b8:27:eb:00:00:09", "", "", "sw1", "Gi1/0/7"),
		row("r3", "arp", "10.0.0.10", "00:1b:21:00:00:10", "prn-9", "HP", "", ""),
	}); err != nil {
		t.Fatal(err)
	}
	umbra, _ := cliAgainst(t, db)
	expect := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
	}
	expect(umbra("asset", "import", "--format", "snipeit", "../registry/testdata/snipeit.csv"), "imported snipeit CSV: 3 created, 0 updated")
	expect(umbra("asset", "add", "--tag", "PRN-9", "--category", "peripheral", "--macs", "00:1b:21:00:00:10"), "created asset")
	expect(umbra("reconcile", "now"), "into 2 devices")
	shadow := umbra("report", "shadow")
	expect(shadow, "PROBABLY", "Raspberry Pi iot", "1 unregistered devices", "why: no asset matches it and no agent reports from it", "agent-x", "sw1 port Gi1/0/7", "10.0.0.0/24 (assumed)", "Raspberry Pi")
	t.Logf("umbra report shadow:\n%s", shadow)
	expect(umbra("report", "shadow", "--csv"), "'=cmd|")
	id := regexp.MustCompile(`f-[0-9a-f]{16}`).FindString(shadow)
	dev := regexp.MustCompile(`dev-[0-9a-f]{16}`).FindString(umbra("device", "list"))
	explain := umbra("device", "explain", dev)
	t.Logf("umbra device explain %s:\n%s", dev, explain)
	expect(explain, "identifiers:", "evidence:")
	expect(umbra("finding", "ack", id, "--reason", "lab device", "--until", now.Add(48*time.Hour).Format("2006-01-02")), "acknowledged")
	expect(umbra("finding", "list"), "acknowledged")
	expect(umbra("finding", "register", id, "--tag", "PI-1", "--category", "facility"), "registered asset", "b8:27:eb:00:00:09")
	expect(umbra("reconcile", "now"), "1 resolved")
	expect(umbra("asset", "retire", "ASSET-0001", "--dispose", "--outcome", "recycled", "--wipe-method", "NIST 800-88 purge", "--wipe-certificate", "WIPE-42"), "is now disposed")
	expect(umbra("asset", "show", "ASSET-0001"), "history:", "import", "dispose", "WIPE-42", "recycled")
	expect(umbra("asset", "show", "--json", "ASSET-0001"), `"action": "dispose"`)
	expect(umbra("asset", "export"), "ASSET-0001", "PI-1", "PRN-9")
	kpi := umbra("report", "kpi")
	expect(kpi, "devices 2", "registered 100.0%", "mean time to register")
	if !regexp.MustCompile(`end-user-device\s+1\s+1299\.00`).MatchString(kpi) {
		t.Errorf("KPIs lack the cost of end-user devices:\n%s", kpi)
	}
	expect(umbra("device", "split", "--identifiers", "mac:b8:27:eb:00:00:09", "--reason", "test"), "split s-")
	n, err := db.Count(ctx, "SELECT count() FROM audit_log WHERE action IN ('asset.import', 'asset.create', 'finding.ack', 'finding.register', 'asset.dispose', 'device.split')")
	if err != nil || n < 7 {
		t.Errorf("audit log holds %d of the actions, %v", n, err)
	}
	if n, err := db.Count(ctx, "SELECT count() FROM device_current FINAL WHERE deleted = 0"); err != nil || n != 2 {
		t.Errorf("device_current holds %d current devices, %v; want 2", n, err)
	}
}

// TestCLIShadowReportPages: umbra report shadow shows the first page of
// the report (from the reconciler's memory) and says how many more there
// are; --all, --csv and --json give every unregistered device, streamed.
func TestCLIShadowReportPages(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	if err := reconcile.Generate(ctx, db, reconcile.Generated{Devices: 300, N: 600, Start: start, Step: time.Second, Received: start}); err != nil {
		t.Fatal(err)
	}
	umbra, apiURL := cliAgainst(t, db)
	umbra("reconcile", "now")
	row := regexp.MustCompile(`(?m)^(f-[0-9a-f]{16})\s+(low|medium|high)\s`)
	rows := func(out string) []string {
		var ids []string
		for _, m := range row.FindAllStringSubmatch(out, -1) {
			ids = append(ids, m[1])
		}
		return ids
	}
	every := umbra("report", "shadow", "--all")
	all := rows(every)
	total := len(all)
	if total <= 100 || !strings.Contains(every, fmt.Sprintf("\n%d unregistered devices\n", total)) {
		t.Fatalf("--all lists %d devices; want more than a page, and says:\n%s", total, every[max(0, len(every)-300):])
	}
	page := umbra("report", "shadow")
	first := rows(page)
	want := fmt.Sprintf("%d unregistered devices: the 100 seen last are shown, %d more", total, total-100)
	if len(first) != 100 || !strings.Contains(page, want) || strings.Join(first, ",") != strings.Join(all[:100], ",") {
		t.Errorf("the first page lists %d devices (want the first 100 of --all) and lacks %q?\n%s", len(first), want, page[max(0, len(page)-300):])
	}
	recs, err := csv.NewReader(strings.NewReader(umbra("report", "shadow", "--csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != total+1 || recs[0][0] != "id" || recs[1][0] != all[0] || recs[total][0] != all[total-1] {
		t.Errorf("--csv has %d records; want a header and the %d devices of --all in order", len(recs), total)
	}
	var exp api.FindingsPage
	if err := json.Unmarshal([]byte(umbra("report", "shadow", "--json")), &exp); err != nil {
		t.Fatal(err)
	}
	if len(exp.Findings) != total || exp.Total != uint64(total) || exp.Findings[0].ID != all[0] {
		t.Errorf("--json has %d findings, total %d; want the %d of --all", len(exp.Findings), exp.Total, total)
	}
	// An acknowledgement shows on the first page at once (the page comes
	// from memory), and after the next run.
	umbra("finding", "ack", all[0], "--reason", "lab")
	ackRow := regexp.MustCompile(`(?m)^` + all[0] + `\s+\S+\s+acknowledged\s`)
	if page := umbra("report", "shadow"); !ackRow.MatchString(page) {
		t.Errorf("the first page does not show %s acknowledged:\n%s", all[0], page[:min(len(page), 600)])
	}
	umbra("reconcile", "now")
	if page := umbra("report", "shadow"); !ackRow.MatchString(page) || len(rows(page)) != 100 {
		t.Errorf("after a run the first page does not show %s acknowledged:\n%s", all[0], page[:min(len(page), 600)])
	}
	// A page beyond the bounds, or not a number, is refused.
	for _, limit := range []string{"0", "-1", "abc", "10001", "1e3"} {
		resp, err := http.Get(apiURL + api.PathFindings + "?kind=unregistered-device&limit=" + limit)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("limit=%s: %s; want 400", limit, resp.Status)
		}
	}
}

// cliAgainst serves the API over db and returns a function that runs an
// umbra command against it and returns its output, failing the test on a
// non-zero exit, and the API's URL.
func cliAgainst(t *testing.T, db *store.DB) (func(args ...string) string, string) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(api.New(db, logger, api.Options{NoAuth: true}))
	t.Cleanup(srv.Close)
	cfg := filepath.Join(t.TempDir(), "umbra.json")
	if err := os.WriteFile(cfg, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("UMBRA_CONFIG", cfg)
	t.Setenv("UMBRA_COLLECTOR", srv.URL)
	return func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := cli.Run(context.Background(), args, &out, &errb); code != 0 {
			t.Fatalf("umbra %s: exit %d: %s%s", strings.Join(args, " "), code, errb.String(), out.String())
		}
		return out.String()
	}, srv.URL
}
