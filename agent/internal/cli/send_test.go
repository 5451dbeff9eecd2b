package cli

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/state"
	"github.com/umbrasec/umbra/shared/wire"
)

// TestScanOutAndSend scans loopback only (127.0.0.1: nothing leaves this
// machine), saves the discovery with --out, checks that it decodes as the
// collector decodes it, and posts it with send to a test server.
func TestScanOutAndSend(t *testing.T) {
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	out := filepath.Join(dir, "scan.json")
	var stdout, stderr bytes.Buffer
	code := Run(t.Context(), []string{"scan", "127.0.0.1", "--no-snmp", "--no-mdns", "--no-names", "--ports", "none",
		"--out", out, "--state-dir", stateDir}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("scan exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := wire.Decode(bytes.NewReader(data), wire.DefaultLimits, time.Now())
	if err != nil {
		t.Fatalf("wire.Decode(scan --out) = %v\n%s", err, data)
	}
	agentID, err := state.AgentID(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != wire.KindDiscovery || rep.Discovery == nil || rep.ID == "" || rep.AgentID != agentID || rep.CreatedAt.IsZero() {
		t.Fatalf("report = kind %q, id %q, agent %q (want %q), created %v, discovery %v",
			rep.Kind, rep.ID, rep.AgentID, agentID, rep.CreatedAt, rep.Discovery != nil)
	}
	if got := rep.Discovery.Targets; len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("discovery targets = %v, want [127.0.0.1]", got)
	}

	var mu sync.Mutex
	var posted []*wire.Report
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != wire.PathReports {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got, err := wire.Decode(zr, wire.DefaultLimits, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		posted = append(posted, got)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"` + got.ID + `"}`))
	}))
	defer srv.Close()
	stdout.Reset()
	stderr.Reset()
	code = Run(t.Context(), []string{"send", out, "--collector", srv.URL, "--state-dir", stateDir}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("send exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(posted) != 1 || posted[0].ID != rep.ID || posted[0].AgentID != agentID || posted[0].Kind != wire.KindDiscovery {
		t.Fatalf("the server got %d reports, want report %s once", len(posted), rep.ID)
	}
	if !strings.Contains(stdout.String(), rep.ID) {
		t.Errorf("send printed %q, want the report id %s", stdout.String(), rep.ID)
	}
}

func TestSendRefusesBadFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"schema":1,"kind":"discovery"}`), 0o600)
	var stdout, stderr bytes.Buffer
	// The URL is never dialled: the file is refused first.
	code := Run(t.Context(), []string{"send", bad, "--collector", "http://127.0.0.1:1", "--state-dir", dir}, &stdout, &stderr)
	if code != exitFail {
		t.Errorf("send of an invalid report: exit %d, want %d (stderr %q)", code, exitFail, stderr.String())
	}
	code = Run(t.Context(), []string{"send", "--collector", "http://127.0.0.1:1"}, &stdout, &stderr)
	if code != exitUsage {
		t.Errorf("send without a file: exit %d, want %d", code, exitUsage)
	}
}
