package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/scan"
	"github.com/umbrasec/umbra/shared/wire"
)

// jobCollector is a fake collector with heartbeats and scan jobs: it hands
// out each queued job once and records heartbeats and progress.
type jobCollector struct {
	mu         sync.Mutex
	policy     wire.NetworkPolicy
	noPolicy   bool // answer heartbeats 503
	jobs       []wire.Job
	progress   map[string][]wire.JobProgress
	heartbeats []wire.Heartbeat
}

func (c *jobCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == wire.PathHeartbeat:
		var hb wire.Heartbeat
		if err := json.NewDecoder(r.Body).Decode(&hb); err != nil || hb.Validate() != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c.heartbeats = append(c.heartbeats, hb)
		if c.noPolicy {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(wire.HeartbeatReply{ServerTime: time.Now(), Networks: c.policy})
	case r.URL.Path == wire.PathJobsNext:
		if len(c.jobs) == 0 {
			c.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
			c.mu.Lock()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		j := c.jobs[0]
		c.jobs = c.jobs[1:]
		json.NewEncoder(w).Encode(j)
	case strings.HasPrefix(r.URL.Path, wire.PathJobsPrefix) && strings.HasSuffix(r.URL.Path, "/progress"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, wire.PathJobsPrefix), "/progress")
		var p wire.JobProgress
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c.progress[id] = append(c.progress[id], p)
		json.NewEncoder(w).Encode(wire.JobAck{})
	case r.URL.Path == wire.PathReports:
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(wire.Accepted{})
	default:
		http.NotFound(w, r)
	}
}

func (c *jobCollector) final(id string) (wire.JobProgress, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.progress[id]
	if len(ps) == 0 || ps[len(ps)-1].State == wire.JobRunning {
		return wire.JobProgress{}, false
	}
	return ps[len(ps)-1], true
}

var (
	officeView = wire.NetworkView{Addresses: []string{"198.18.1.5/24"}, Gateways: []string{"198.18.1.1"},
		GatewayMACs: []string{"02:00:00:00:01:01"}, DNSSuffixes: []string{"paris.corp.example"}}
	cafeView = wire.NetworkView{Addresses: []string{"10.77.0.23/16"}, Gateways: []string{"10.77.0.1"},
		GatewayMACs: []string{"aa:bb:cc:00:00:01"}, DNSSuffixes: []string{"lan"}}
	officePolicy = wire.NetworkPolicy{Rules: []wire.TrustedNetwork{
		{ID: "net-1", Kind: wire.TrustSubnet, Value: "198.18.1.0/24"},
		{ID: "net-2", Kind: wire.TrustDNSSuffix, Value: "corp.example"},
	}}
)

// TestScanJobsOnlyOnTrustedNetworks runs the agent against a collector
// that hands it scan jobs, on networks the policy trusts or not. A
// refused job never reaches the scanner (nothing is sent) and ends failed
// with the reason; an accepted one runs. The jobs target loopback only,
// so even a broken gate could not send a packet elsewhere.
func TestScanJobsOnlyOnTrustedNetworks(t *testing.T) {
	job := func(id string) wire.Job {
		return wire.Job{ID: id, Targets: []string{"127.0.0.1/32"}, Methods: []string{wire.ScanSweep}, Rate: 10, MaxAddrs: 4, LeaseSeconds: 30}
	}
	for _, c := range []struct {
		name      string
		policy    wire.NetworkPolicy
		noPolicy  bool
		saved     *wire.NetworkPolicy // policy file left by an earlier run
		view      wire.NetworkView
		wantError string // "" for a job that runs
	}{
		{name: "office", policy: officePolicy, view: officeView},
		{name: "café", policy: officePolicy, view: cafeView, wantError: "network not trusted: no trusted-network rule matches (addresses 10.77.0.23/16"},
		{name: "no rules", policy: wire.NetworkPolicy{}, view: officeView, wantError: "network not trusted: the collector lists no trusted networks"},
		{name: "trust all", policy: wire.NetworkPolicy{TrustAll: true}, view: cafeView},
		{name: "policy never received", noPolicy: true, view: officeView, wantError: "network trust unknown"},
		{name: "saved policy, collector cannot answer", noPolicy: true, saved: &officePolicy, view: cafeView, wantError: "network not trusted"},
		{name: "saved policy trusts", noPolicy: true, saved: &officePolicy, view: officeView},
	} {
		t.Run(c.name, func(t *testing.T) {
			col := &jobCollector{policy: c.policy, noPolicy: c.noPolicy, jobs: []wire.Job{job("scan-1")}, progress: map[string][]wire.JobProgress{}}
			srv := httptest.NewServer(col)
			defer srv.Close()
			dir := t.TempDir()
			if c.saved != nil {
				b, _ := json.Marshal(c.saved)
				if err := os.WriteFile(filepath.Join(dir, policyFile), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var logs syncBuffer
			cfg := testConfig(srv.URL, dir)
			cfg.InventoryInterval, cfg.HeartbeatInterval = time.Hour, time.Hour
			a, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			a.collect = fakeInventory
			view := c.view
			a.netView = func() wire.NetworkView { return view }
			var scans atomic.Int64
			a.scan = func(_ context.Context, opt scan.Options) scan.Result {
				scans.Add(1)
				if opt.Set.Len() != 1 {
					t.Errorf("scan of %d addresses, want the job's one", opt.Set.Len())
				}
				now := time.Now().UTC()
				return scan.Result{Discovery: wire.Discovery{StartedAt: now, FinishedAt: now, Targets: opt.Targets}}
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()
			var final wire.JobProgress
			waitFor(t, "the job to end", 20*time.Second, func() bool {
				var ok bool
				final, ok = col.final("scan-1")
				return ok
			})
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if c.wantError == "" {
				if final.State != wire.JobDone || scans.Load() != 1 {
					t.Errorf("job ended %+v after %d scans, want done after 1\n%s", final, scans.Load(), logs.String())
				}
				return
			}
			if final.State != wire.JobFailed || !strings.Contains(final.Error, c.wantError) {
				t.Errorf("job ended %+v, want failed with %q", final, c.wantError)
			}
			if n := scans.Load(); n != 0 {
				t.Errorf("the scanner ran %d times on an untrusted network", n)
			}
			col.mu.Lock()
			defer col.mu.Unlock()
			if ps := col.progress["scan-1"]; len(ps) != 1 {
				t.Errorf("progress %+v, want the refusal only", ps)
			}
			if !strings.Contains(logs.String(), "scan job refused") {
				t.Errorf("the refusal is not logged:\n%s", logs.String())
			}
		})
	}
}

// TestHeartbeat checks the heartbeat's content and that its answer's
// policy is kept on disk for the next start.
func TestHeartbeat(t *testing.T) {
	col := &jobCollector{policy: officePolicy, progress: map[string][]wire.JobProgress{}}
	srv := httptest.NewServer(col)
	defer srv.Close()
	dir := t.TempDir()
	cfg := testConfig(srv.URL, dir)
	cfg.InventoryInterval, cfg.HeartbeatInterval = time.Hour, 20*time.Millisecond
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.collect = fakeInventory
	a.netView = func() wire.NetworkView { return cafeView }
	a.started = make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	<-a.started
	waitFor(t, "three heartbeats", 10*time.Second, func() bool {
		col.mu.Lock()
		defer col.mu.Unlock()
		return len(col.heartbeats) >= 3
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	first, last := col.heartbeats[0], col.heartbeats[len(col.heartbeats)-1]
	col.mu.Unlock()
	if first.AgentID != a.agentID || first.AgentVersion == "" || first.Network == nil || first.Network.Addresses[0] != "10.77.0.23/16" {
		t.Errorf("first heartbeat = %+v", first)
	}
	if first.Trusted != nil {
		t.Errorf("first heartbeat says trusted=%v before any policy was received", *first.Trusted)
	}
	if last.Trusted == nil || *last.Trusted {
		t.Errorf("later heartbeat trusted = %v, want false (café view, office policy)", last.Trusted)
	}
	b, err := os.ReadFile(filepath.Join(dir, policyFile))
	var saved wire.NetworkPolicy
	if err != nil || json.Unmarshal(b, &saved) != nil || len(saved.Rules) != 2 {
		t.Fatalf("saved policy = %s, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, policyFile)); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("policy file mode %v, want 0600", fi.Mode().Perm())
	}
}
