package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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

// start runs a writer until the test ends.
func start(t *testing.T, st ingest.Store, opt ingest.Options) *ingest.Writer {
	t.Helper()
	w, _ := run(t, st, opt)
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
			_, err := w.Submit(context.Background(), time.Now(), report(uuid.NewString(), fmt.Sprintf("r-%d", i)), ingest.Body{})
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
			dup, err := ws[i%2].Submit(context.Background(), time.Now(), rep, ingest.Body{})
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
	if dup, err := ws[0].Submit(context.Background(), time.Now(), rep, ingest.Body{}); err != nil || !dup {
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
			_, err := w.Submit(context.Background(), time.Now(), report(uuid.NewString(), uuid.NewString()), ingest.Body{})
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

// gateStore holds every StoreReports call until released and records the
// reports it was asked to write.
type gateStore struct {
	mu      sync.Mutex
	written []string
	started chan struct{} // one send per StoreReports call
	release chan struct{}
}

func (g *gateStore) StoredReports(ctx context.Context, ids []string) (map[string]bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	found := map[string]bool{}
	for _, id := range ids {
		for _, w := range g.written {
			if w == id {
				found[id] = true
			}
		}
	}
	return found, nil
}

func (g *gateStore) StoreReports(ctx context.Context, rs []store.Received) ([]store.TableStat, error) {
	g.started <- struct{}{}
	<-g.release
	g.record(rs)
	return nil, nil
}

// record notes the reports as written.
func (g *gateStore) record(rs []store.Received) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, rc := range rs {
		g.written = append(g.written, rc.Report.ID)
	}
}

// TestCopyWhileWriting retries a report while the first copy is being
// written by another batch: the copy waits for the first and is answered
// as a duplicate, and the report is written once.
func TestCopyWhileWriting(t *testing.T) {
	g := &gateStore{started: make(chan struct{}, 10), release: make(chan struct{})}
	w := start(t, g, ingest.Options{FlushInterval: time.Millisecond, Writers: 2})
	rep := report(uuid.NewString(), uuid.NewString())
	type answer struct {
		dup bool
		err error
	}
	answers := make(chan answer, 2)
	submit := func() {
		dup, err := w.Submit(context.Background(), time.Now(), rep, ingest.Body{})
		answers <- answer{dup, err}
	}
	go submit()
	<-g.started // the first copy is being written
	go submit()
	// The copy must not start a write of its own while the first is held.
	select {
	case <-g.started:
		t.Fatal("a copy of a report being written was written again")
	case <-time.After(300 * time.Millisecond):
	}
	close(g.release)
	var stored, dups int
	for range 2 {
		a := <-answers
		if a.err != nil {
			t.Fatal(a.err)
		}
		if a.dup {
			dups++
		} else {
			stored++
		}
	}
	if stored != 1 || dups != 1 {
		t.Errorf("answers: %d stored, %d duplicates; want 1 and 1", stored, dups)
	}
	if len(g.written) != 1 {
		t.Errorf("the report was written %d times, want once", len(g.written))
	}
	// A retry after the write is a duplicate too.
	if dup, err := w.Submit(context.Background(), time.Now(), rep, ingest.Body{}); err != nil || !dup {
		t.Errorf("retry after the write = %v, %v; want a duplicate", dup, err)
	}
}

// clockStore is a gateStore on a clock that each write moves 10s on: a
// store that writes one batch per 10s, without the test waiting for it.
type clockStore struct {
	*gateStore
	offset atomic.Int64
}

func (c *clockStore) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *clockStore) StoreReports(ctx context.Context, rs []store.Received) ([]store.TableStat, error) {
	c.offset.Add(int64(10 * time.Second))
	return c.gateStore.StoreReports(ctx, rs)
}

// TestRetryAfterFollowsDrainRate fills the queue behind a store that has
// been writing at a known pace: the refusal asks the agent to come back
// when the refused report will fit, at the rate the queue drains, not
// after a constant, nor after the whole queue has drained.
func TestRetryAfterFollowsDrainRate(t *testing.T) {
	g := &clockStore{gateStore: &gateStore{started: make(chan struct{}, 1000), release: make(chan struct{}, 1000)}}
	const bound = 8 << 10
	w := start(t, g, ingest.Options{MaxQueueBytes: bound,
		FlushInterval: time.Millisecond, Writers: 1, Now: g.now})
	// A few reports written at 10s each.
	for range 3 {
		g.release <- struct{}{}
		if _, err := w.Submit(context.Background(), time.Now(), report(uuid.NewString(), uuid.NewString()), ingest.Body{}); err != nil {
			t.Fatal(err)
		}
	}
	// Now the store stalls: fill the queue until it refuses.
	var wg sync.WaitGroup
	defer func() {
		for range 10 {
			g.release <- struct{}{}
		}
		wg.Wait()
	}()
	refused := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			_, err := w.Submit(context.Background(), time.Now(), report(uuid.NewString(), uuid.NewString()), ingest.Body{})
			if err != nil {
				refused <- err
			}
		})
	}
	err := <-refused
	var re *ingest.RetryError
	if !errors.As(err, &re) || !errors.Is(err, ingest.ErrQueueFull) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("refusal = %v, want a RetryError wrapping ErrQueueFull and store.ErrUnavailable", err)
	}
	// The queue holds as many reports as fit in its bound (a report is
	// counted at three times its JSON size), and they drain at one per
	// 10s: the refused report fits once at most one more is written, in
	// 10s at most, and jitter adds up to half of that.
	b, _ := json.Marshal(report(uuid.NewString(), uuid.NewString()))
	fit := float64(bound) / float64(3*len(b))
	lo, hi := time.Second, 16*time.Second
	if re.After < lo || re.After > hi || re.After%time.Second != 0 {
		t.Errorf("Retry-After = %v, want whole seconds from %v to %v: one report to write at one per 10s (%.1f queued)", re.After, lo, hi, fit)
	}
	if whole := time.Duration(fit*10) * time.Second; re.After >= whole {
		t.Errorf("Retry-After = %v: as long as the whole queue (%.1f reports) takes to drain", re.After, fit)
	}
	t.Logf("Retry-After %v for %.1f reports queued", re.After, fit)
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
