package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/collector/internal/api"
	"github.com/umbrasec/umbra/collector/internal/reconcile"
)

func TestProgressLine(t *testing.T) {
	s := adminapi.Scan{State: "running", Phase: "icmp", Percent: 50, Probed: 127, Total: 254, Found: 7, ETASeconds: 3}
	bar := progressLine(s, true)
	if !strings.HasPrefix(bar, "[###############...............]") || !strings.Contains(bar, "127/254 probed, 7 found, ETA 3s") {
		t.Errorf("progressLine(bar) = %q", bar)
	}
	if got := progressLine(s, false); got != " 50% icmp  7 found" {
		t.Errorf("progressLine(plain) = %q", got)
	}
	if got := progressLine(adminapi.Scan{State: "pending", Agent: "a1"}, true); !strings.Contains(got, "waiting for agent a1") {
		t.Errorf("progressLine(pending) = %q", got)
	}
}

func TestScanCreateWait(t *testing.T) {
	var polls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := adminapi.Scan{ID: "scan-1", Targets: []string{"198.18.1.0/24"}, Agent: "a1", Route: "has an interface on the target", Total: 254}
		switch {
		case r.Method == http.MethodPost && r.URL.Path == adminapi.PathScans:
			var req adminapi.CreateScan
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Targets) != 1 || req.Credentials[0] != "ro" || req.Agent != "" {
				t.Errorf("create request %+v, %v", req, err)
			}
			s.State = "pending"
			w.WriteHeader(http.StatusCreated)
		case r.URL.Path == adminapi.PathScans+"/scan-1":
			n := polls.Add(1)
			s.State, s.Percent, s.Found, s.Phase = "running", float64(n*30), uint64(n), "arp"
			if n >= 3 {
				s.State, s.Percent = "done", 100
			}
		case r.Method == http.MethodPost && r.URL.Path == api.PathRecRun:
			_ = json.NewEncoder(w).Encode(reconcile.RunStats{Observations: 12})
			return
		case r.URL.Path == api.PathFindings:
			if q := r.URL.Query(); q.Get("kind") != reconcile.KindUnregisteredDevice || q.Get("state") != "open" {
				t.Errorf("findings query %v", q)
			}
			mk := func(mac string, opened time.Time) reconcile.StoredFinding {
				return reconcile.StoredFinding{Finding: reconcile.Finding{ID: "f-" + mac, Kind: reconcile.KindUnregisteredDevice,
					MACs: []string{mac}, Why: "no asset matches it"}, State: "open", OpenedAt: opened}
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"findings": []reconcile.StoredFinding{
				mk("44:19:b6:10:00:18", time.Now().Add(time.Second)), mk("00:1b:21:10:00:17", time.Now().Add(-time.Hour))}})
			return
		default:
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(s)
	}))
	defer srv.Close()
	defer func(d time.Duration) { findingsSettle = d }(findingsSettle)
	findingsSettle = time.Millisecond
	var out, errb bytes.Buffer
	env := map[string]string{"UMBRA_COLLECTOR": srv.URL, "UMBRA_TOKEN": "t"}
	getenv := func(k string) string { return env[k] }
	code := run(context.Background(), []string{"scan", "create", "198.18.1.0/24", "--credentials", "ro", "--wait"}, &out, &errb, getenv)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	// The summary ends with the unregistered devices new since the scan
	// started, not the older ones.
	if o := out.String(); !strings.Contains(o, "1 new unregistered devices") || !strings.Contains(o, "44:19:b6:10:00:18") || strings.Contains(o, "00:1b:21:10:00:17") {
		t.Errorf("new findings in the summary:\n%s", o)
	}
	for _, want := range []string{" 30% arp", " 60% arp", "scan scan-1 done: 3 hosts found among 254 addresses of 198.18.1.0/24 by agent a1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errb.String(), "routed to agent a1 (has an interface on the target)") {
		t.Errorf("stderr: %s", errb.String())
	}
}
