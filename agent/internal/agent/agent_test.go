package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/umbrasec/umbra/agent/internal/config"
	"github.com/umbrasec/umbra/agent/internal/spool"
	"github.com/umbrasec/umbra/shared/wire"
)

// collector is a fake collector that can be down (503) and dedupes by
// report id, as the real one does.
type collector struct {
	t       testing.TB
	down    atomic.Bool
	refused atomic.Int64
	mu      sync.Mutex
	got     map[string]int // report id → deliveries
}

func newCollector(t testing.TB) (*collector, *httptest.Server) {
	c := &collector{t: t, got: map[string]int{}}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != wire.PathReports {
		// A collector without scan jobs: the agent's job poll backs off.
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if c.down.Load() {
		c.refused.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(wire.Problem{Error: "store unavailable"})
		return
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		c.t.Errorf("body is not gzip: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rep, err := wire.Decode(zr, wire.DefaultLimits, time.Now())
	if err != nil {
		c.t.Errorf("collector could not take the report: %v", err)
		w.WriteHeader(http.StatusUnprocessableEntity)
		return
	}
	c.mu.Lock()
	c.got[rep.ID]++
	dup := c.got[rep.ID] > 1
	c.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(wire.Accepted{ID: rep.ID, Duplicate: dup})
}

func (c *collector) ids() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.got))
	for k, v := range c.got {
		m[k] = v
	}
	return m
}

// syncBuffer is a log sink safe for the agent's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var spooledLine = regexp.MustCompile(`msg="report spooled" [^\n]*?report_id=([0-9a-f-]{36})`)

// spooledIDs returns the report ids the log says were spooled, in order.
func spooledIDs(log string) []string {
	var ids []string
	for _, m := range spooledLine.FindAllStringSubmatch(log, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func fakeInventory(context.Context) (*wire.Inventory, error) {
	return &wire.Inventory{CollectedAt: time.Now().UTC(), Full: true, Host: wire.Host{Hostname: "test-host"}, OS: wire.OS{Family: "linux"}}, nil
}

func testConfig(url, dir string) config.Config {
	cfg := config.Default()
	cfg.Collector = url
	cfg.StateDir = dir
	cfg.InventoryInterval = 40 * time.Millisecond
	cfg.HeartbeatInterval = 30 * time.Millisecond
	cfg.StartDelay = 0
	cfg.RetryMin = 20 * time.Millisecond
	cfg.RetryMax = 100 * time.Millisecond
	cfg.SendTimeout = 10 * time.Second
	cfg.Nice = 0
	cfg.MemoryLimit = 0
	return cfg
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDeliveryAfterOutage runs the agent against a collector that is down,
// spools discovery-class reports beside the scheduled inventories, brings
// the collector up and checks that every report that was not replaced by a
// newer snapshot arrives, and only those.
func TestDeliveryAfterOutage(t *testing.T) {
	col, srv := newCollector(t)
	col.down.Store(true)
	var logs syncBuffer
	a, err := New(testConfig(srv.URL, t.TempDir()), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	a.collect = fakeInventory
	a.started = make(chan struct{})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	<-a.started

	// Discovery reports are never replaced: every one must arrive.
	var discovery []string
	for range 30 {
		inv, _ := fakeInventory(ctx)
		rep := &wire.Report{Schema: wire.Schema, ID: uuid.NewString(), Kind: wire.KindInventory, AgentID: a.agentID,
			AgentVersion: "test", CreatedAt: time.Now().UTC(), Inventory: inv}
		if err := a.spoolReport(rep, spool.Discovery, ""); err != nil {
			t.Fatal(err)
		}
		discovery = append(discovery, rep.ID)
	}
	waitFor(t, "the agent to retry against the down collector", 20*time.Second, func() bool {
		return col.refused.Load() >= 3 && len(spooledIDs(logs.String())) >= 33
	})
	if n := len(col.ids()); n != 0 {
		t.Fatalf("collector down, but %d reports arrived", n)
	}

	col.down.Store(false)
	waitFor(t, "the spool to drain", 20*time.Second, func() bool {
		got := col.ids()
		for _, id := range discovery {
			if got[id] == 0 {
				return false
			}
		}
		return a.spool.Stats().Records == 0
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}

	spooled := map[string]bool{}
	for _, id := range spooledIDs(logs.String()) {
		spooled[id] = true
	}
	got := col.ids()
	for id := range got {
		if !spooled[id] {
			t.Errorf("collector got report %s, which was never spooled", id)
		}
	}
	// The agent keeps collecting: it may have spooled a report after the
	// spool was seen empty and before it was stopped. That one is not
	// delivered yet, but kept for the next start, not lost.
	ids := spooledIDs(logs.String())
	if last := ids[len(ids)-1]; got[last] == 0 && a.spool.Stats().Records == 0 {
		t.Errorf("the last spooled report %s never arrived, and the spool is empty", last)
	}
	t.Logf("%d reports spooled, %d distinct delivered (older inventories replaced while down), %d refusals while down",
		len(ids), len(got), col.refused.Load())
}

func TestJitterAndBackoff(t *testing.T) {
	for range 1000 {
		if d := jitter(time.Hour, 0.1); d < 54*time.Minute || d > 66*time.Minute {
			t.Fatalf("jitter(1h, 0.1) = %v, want 54m to 66m", d)
		}
	}
	if d := jitter(time.Second, 0); d != time.Second {
		t.Errorf("jitter(1s, 0) = %v", d)
	}
	a := &Agent{cfg: config.Config{RetryMin: time.Second, RetryMax: time.Minute}}
	var d time.Duration
	for range 20 {
		next := a.nextBackoff(d)
		if next < time.Second/2 || next > time.Minute {
			t.Fatalf("nextBackoff(%v) = %v, want 0.5s to 1m", d, next)
		}
		d = min(max(d*2, time.Second), time.Minute) // the pause before jitter
	}
	if !permanent(422) || permanent(503) || permanent(401) || permanent(429) {
		t.Error("permanent() misclassifies")
	}
}
