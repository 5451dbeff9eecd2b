package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/umbrasec/umbra/collector/internal/ingest"
	"github.com/umbrasec/umbra/collector/internal/metrics"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
	"github.com/umbrasec/umbra/shared/wire"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func report(agentID, id string) *wire.Report {
	now := time.Now().UTC().Truncate(time.Second)
	return &wire.Report{
		Schema: wire.Schema, ID: id, Kind: wire.KindInventory, AgentID: agentID, AgentVersion: "test", CreatedAt: now,
		Inventory: &wire.Inventory{CollectedAt: now, Full: true,
			Host:       wire.Host{Hostname: "h-" + agentID[:8], HostID: agentID},
			OS:         wire.OS{Family: "linux", Platform: "debian"},
			Interfaces: []wire.Interface{{Name: "eth0", MAC: "00:11:22:33:44:55", Addrs: []string{"192.0.2.1/24"}, Up: true}, {Name: "lo", Loopback: true}}},
	}
}

func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func start(t *testing.T, st ingest.Store, opt ingest.Options) *ingest.Writer {
	t.Helper()
	w := ingest.New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func count(t *testing.T, db *store.DB, q string) uint64 {
	t.Helper()
	n, err := db.Count(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestBatching sends many reports at once and checks they reach ClickHouse
// in few inserts.
func TestBatching(t *testing.T) {
	db := storetest.New(t)
	m := metrics.NewIngest()
	w := start(t, db, ingest.Options{FlushInterval: 200 * time.Millisecond, Metrics: m})
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := w.Submit(context.Background(), time.Now(), report(uuid.NewString(), fmt.Sprintf("r-%d", i)))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	inserts := counter(t, m.Inserts.WithLabelValues("reports"))
	rows := counter(t, m.Rows.WithLabelValues("host_interfaces"))
	t.Logf("%d concurrent reports: %v batches, %v inserts into reports, %v interface rows", n, w.Batches(), inserts, rows)
	if inserts > 10 || inserts < 1 {
		t.Errorf("%d reports took %v inserts into reports, want a few", n, inserts)
	}
	if rows != 2*n {
		t.Errorf("%v interface rows written, want %d", rows, 2*n)
	}
	if got := count(t, db, "SELECT count() FROM reports FINAL"); got != n {
		t.Errorf("%d reports stored, want %d", got, n)
	}
}

// TestConcurrentRetriesCountedOnce sends copies of one report at once
// through two writers (two collectors) and again later, as an agent does
// after a lost reply.
func TestConcurrentRetriesCountedOnce(t *testing.T) {
	db := storetest.New(t)
	ws := []*ingest.Writer{
		start(t, db, ingest.Options{FlushInterval: 50 * time.Millisecond}),
		start(t, db, ingest.Options{FlushInterval: 80 * time.Millisecond}),
	}
	agent := uuid.NewString()
	rep := report(agent, uuid.NewString())
	const copies = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for i := range copies {
		wg.Go(func() {
			dup, err := ws[i%2].Submit(context.Background(), time.Now(), rep)
			if err != nil {
				t.Error(err)
				return
			}
			if !dup {
				mu.Lock()
				stored++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if stored < 1 || stored > 2 {
		t.Errorf("%d copies answered as stored, want 1 (2 when both collectors raced)", stored)
	}
	// A retry after a lost reply is a duplicate.
	if dup, err := ws[0].Submit(context.Background(), time.Now(), rep); err != nil || !dup {
		t.Errorf("retry after the write = duplicate %v, %v; want a duplicate", dup, err)
	}
	hosts, err := db.ListHosts(context.Background())
	if err != nil || len(hosts) != 1 || hosts[0].Reports != 1 {
		t.Fatalf("hosts = %+v, %v; want one host with one report", hosts, err)
	}
	for _, q := range []string{"SELECT count() FROM reports FINAL", "SELECT count() FROM inventories FINAL", "SELECT uniqExact(report_id) FROM reports"} {
		if got := count(t, db, q); got != 1 {
			t.Errorf("%s = %d, want 1", q, got)
		}
	}
	if got := count(t, db, "SELECT count() FROM host_interfaces FINAL"); got != 2 {
		t.Errorf("interfaces = %d, want 2", got)
	}
}

// TestQueueBound refuses reports beyond the memory bound with an error the
// API answers 503.
func TestQueueBound(t *testing.T) {
	blocked := &blockingStore{release: make(chan struct{})}
	w := start(t, blocked, ingest.Options{MaxQueueBytes: 20 << 10, FlushInterval: time.Millisecond})
	var wg sync.WaitGroup
	results := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			_, err := w.Submit(context.Background(), time.Now(), report(uuid.NewString(), uuid.NewString()))
			results <- err
		})
	}
	// Wait until the queue refuses, then release the store.
	var full int
	for full == 0 {
		err := <-results
		if err == nil {
			t.Fatal("a report was stored while the store was blocked")
		}
		if !errors.Is(err, ingest.ErrQueueFull) || !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Submit = %v, want ErrQueueFull wrapping store.ErrUnavailable", err)
		}
		full++
	}
	close(blocked.release)
	wg.Wait()
}

type blockingStore struct{ release chan struct{} }

func (b *blockingStore) StoredReports(ctx context.Context, ids []string) (map[string]bool, error) {
	<-b.release
	return map[string]bool{}, nil
}

func (b *blockingStore) StoreReports(ctx context.Context, rs []store.Received) ([]store.TableStat, error) {
	return nil, nil
}
