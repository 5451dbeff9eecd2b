package agent

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/inventory/delta"
	"github.com/umbrasec/umbra/shared/wire"
)

// deltaCollector is a fake collector that rebuilds every host's software
// from full inventories and deltas, as the real one must.
type deltaCollector struct {
	t        testing.TB
	mu       sync.Mutex
	software map[string][]wire.Package // report id → software rebuilt
	latest   []wire.Package
	full     int
	deltas   int
	kinds    string      // f or d per accepted report, in order
	refuse   atomic.Bool // refuse deltas (422), as a collector without them would
}

func (c *deltaCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
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
	defer c.mu.Unlock()
	inv := rep.Inventory
	switch {
	case inv.SoftwareDelta == nil:
		c.full++
		c.kinds += "f"
		c.software[rep.ID] = inv.Software
	case c.refuse.Load():
		w.WriteHeader(http.StatusUnprocessableEntity)
		json.NewEncoder(w).Encode(wire.Problem{Error: "deltas not understood"})
		return
	default:
		c.deltas++
		c.kinds += "d"
		base, ok := c.software[inv.SoftwareDelta.BaseReportID]
		if !ok {
			c.t.Errorf("delta %s on base %s, which the collector never accepted", rep.ID, inv.SoftwareDelta.BaseReportID)
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
		got, err := delta.Apply(base, inv.SoftwareDelta)
		if err != nil {
			c.t.Errorf("delta %s: %v", rep.ID, err)
			w.WriteHeader(http.StatusUnprocessableEntity)
			return
		}
		c.software[rep.ID] = got
	}
	c.latest = c.software[rep.ID]
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(wire.Accepted{ID: rep.ID})
}

func (c *deltaCollector) counts() (full, deltas int, latest []wire.Package) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.full, c.deltas, c.latest
}

// TestDelta runs the agent with deltas on against software that changes
// on every collection: the first inventory is full, the next ones deltas
// the collector can apply, and after a refused delta a full one comes.
func TestDelta(t *testing.T) {
	col := &deltaCollector{t: t, software: map[string][]wire.Package{}}
	srv := httptest.NewServer(col)
	t.Cleanup(srv.Close)
	cfg := testConfig(srv.URL, t.TempDir())
	cfg.Delta = true
	cfg.InventoryInterval = time.Hour // no second full one during the test
	cfg.DeltaInterval = 30 * time.Millisecond
	cfg.Jitter = 0
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	current := func() []wire.Package {
		k := int(n.Load())
		pkgs := make([]wire.Package, 0, 50)
		for i := range 50 {
			pkgs = append(pkgs, wire.Package{Name: fmt.Sprintf("pkg%d", i+k), Version: "1", Source: wire.SourceDpkg})
		}
		return pkgs
	}
	a.collect = func(ctx context.Context) (*wire.Inventory, error) {
		inv, _ := fakeInventory(ctx)
		n.Add(1)
		inv.Software = current()
		return inv, nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, "deltas to arrive", 20*time.Second, func() bool {
		_, d, _ := col.counts()
		return d >= 3
	})
	_, _, latest := col.counts()
	col.mu.Lock()
	kinds := col.kinds
	col.mu.Unlock()
	// Full inventories until the collector has accepted one (a base),
	// deltas from then on.
	if first := strings.IndexByte(kinds, 'd'); strings.Contains(kinds[first:], "f") {
		t.Errorf("reports accepted %q: a full inventory after a delta, want only deltas", kinds)
	}
	if len(latest) != 50 {
		t.Errorf("the collector rebuilt %d packages, want 50", len(latest))
	}

	// A collector refusing a delta gets a full inventory next.
	col.refuse.Store(true)
	waitFor(t, "a full inventory after a refused delta", 20*time.Second, func() bool {
		f, _, _ := col.counts()
		return f >= 2
	})
}
