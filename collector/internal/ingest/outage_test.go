//go:build linux

package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/umbrasec/umbra/collector/internal/api"
	"github.com/umbrasec/umbra/collector/internal/ingest"
	"github.com/umbrasec/umbra/collector/internal/metrics"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
	"github.com/umbrasec/umbra/shared/wire"
)

// privateClickHouse runs a ClickHouse of the test's own, which it may kill.
type privateClickHouse struct {
	t      *testing.T
	script string
	dir    string
	addr   string
}

func startPrivate(t *testing.T) *privateClickHouse {
	t.Helper()
	if testing.Short() {
		if os.Getenv("CI") != "" {
			t.Fatal("the outage test must not be skipped in CI")
		}
		t.Skip("outage test skipped in -short mode: it starts and kills a ClickHouse of its own")
	}
	root, err := storetest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ch := &privateClickHouse{t: t, script: filepath.Join(root, "scripts", "clickhouse.sh"), dir: t.TempDir()}
	ch.start()
	t.Cleanup(func() {
		out, err := exec.Command("bash", ch.script, "stop", ch.dir).CombinedOutput()
		if err != nil {
			t.Errorf("stopping the private ClickHouse: %v\n%s", err, out)
		}
	})
	return ch
}

func (ch *privateClickHouse) start() {
	ch.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("bash", ch.script, "start", ch.dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		ch.t.Fatalf("clickhouse.sh start: %v\n%s", err, stderr.String())
	}
	lines := strings.Fields(stdout.String())
	if len(lines) == 0 {
		ch.t.Fatalf("clickhouse.sh start printed no address\n%s", stderr.String())
	}
	ch.addr = lines[len(lines)-1]
}

// kill crashes the server with SIGKILL and waits until it is gone.
func (ch *privateClickHouse) kill() {
	ch.t.Helper()
	b, err := os.ReadFile(filepath.Join(ch.dir, "pid"))
	if err != nil {
		ch.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		ch.t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		ch.t.Fatal(err)
	}
	waitUntil(ch.t, "the killed ClickHouse to exit", time.Minute, func() bool { return syscall.Kill(pid, 0) != nil })
}

// TestOutage kills and restarts ClickHouse repeatedly while simulated
// agents post reports, retrying on 503 and network errors as the real
// agent's spool does: no report may be lost and none counted twice.
// Without a journal a report is answered only once written; with one
// (the collector's default) it may be answered once on disk, and the
// collector itself is also restarted during an outage, reading its journal
// back.
func TestOutage(t *testing.T) {
	t.Run("answer once written", func(t *testing.T) { outage(t, false) })
	t.Run("journal", func(t *testing.T) { outage(t, true) })
}

// swappable lets the test replace the writer behind a running API, as a
// restarted collector does.
type swappable struct {
	mu sync.RWMutex
	w  *ingest.Writer
}

func (s *swappable) Submit(ctx context.Context, received time.Time, r *wire.Report, body ingest.Body) (bool, error) {
	s.mu.RLock()
	w := s.w
	s.mu.RUnlock()
	return w.Submit(ctx, received, r, body)
}

func outage(t *testing.T, journal bool) {
	ch := startPrivate(t)
	ctx := context.Background()
	db, err := store.Open(ctx, store.Config{Addr: ch.addr, Database: "umbra_outage"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := metrics.NewIngest()
	opt := ingest.Options{FlushInterval: 50 * time.Millisecond, WriteTimeout: 10 * time.Second, Metrics: m}
	if journal {
		opt.Journal = t.TempDir()
		opt.AckAfter = 200 * time.Millisecond
		// This load is a burst that never ends: held, all of it would
		// be answered from the journal before a write found ClickHouse
		// gone, and the 503s this test is about would never come.
		opt.BurstHold = -1
	}
	ing := &swappable{}
	var stopWriter func()
	run := func() {
		w, err := ingest.New(db, logger, opt)
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); w.Run(wctx) }()
		ing.mu.Lock()
		ing.w = w
		ing.mu.Unlock()
		stopWriter = func() { cancel(); <-done }
	}
	run()
	defer func() { stopWriter() }()
	srv := httptest.NewServer(api.New(db, logger, api.Options{NoAuth: true, Ingest: ing, StoreTimeout: 10 * time.Second}))
	defer srv.Close()

	// Enough reports that three outages come before the last is stored,
	// even when the journal takes them as fast as they come.
	const agents, perAgent = 16, 24
	var accepted, unavailable, netErrs atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var failed atomic.Value
	client := &http.Client{Timeout: 15 * time.Second}
	for range agents {
		agent := uuid.NewString()
		wg.Go(func() {
			for range perAgent {
				body, _ := json.Marshal(report(agent, uuid.NewString()))
				for {
					resp, err := client.Post(srv.URL+wire.PathReports, "application/json", bytes.NewReader(body))
					if err != nil {
						netErrs.Add(1)
					} else {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode == http.StatusAccepted {
							accepted.Add(1)
							break
						}
						if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
							failed.Store(fmt.Sprintf("POST = %d", resp.StatusCode))
							return
						}
						unavailable.Add(1)
					}
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond): // the agent's backoff, shortened
					}
				}
			}
		})
	}
	const outages = 3
	for i := range outages {
		before := accepted.Load()
		waitUntil(t, "reports to flow", 2*time.Minute, func() bool { return accepted.Load() >= before+10 || accepted.Load() == agents*perAgent })
		if accepted.Load() == agents*perAgent {
			t.Fatalf("all reports were stored before outage %d: make the load longer", i+1)
		}
		ch.kill()
		u := unavailable.Load()
		waitUntil(t, "503 answers during the outage", time.Minute, func() bool { return unavailable.Load() > u })
		if journal && i == 1 {
			// The collector restarts while ClickHouse is down: what it
			// accepted waits in the journal, read back by the new writer.
			stopWriter()
			run()
		}
		ch.start()
		t.Logf("outage %d: %d reports accepted before it, %d 503 answers so far", i+1, before, unavailable.Load())
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		close(stop)
		wg.Wait()
		t.Fatalf("agents did not finish: %d of %d accepted", accepted.Load(), agents*perAgent)
	}
	if f := failed.Load(); f != nil {
		t.Fatal(f)
	}
	want := uint64(agents * perAgent)
	if journal {
		// Accepted is on disk, not necessarily written yet.
		waitUntil(t, "the journal to drain", 2*time.Minute, func() bool {
			n, err := db.Count(ctx, "SELECT uniqExact(report_id) FROM reports")
			return err == nil && n >= want
		})
	}
	for _, q := range []string{
		"SELECT count() FROM reports FINAL",
		"SELECT uniqExact(report_id) FROM reports",
		"SELECT count() FROM inventories FINAL",
		"SELECT uniqExact(report_id) FROM inventories",
	} {
		if got := count(t, db, q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	}
	hosts, err := db.ListHosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, h := range hosts {
		sum += h.Reports
	}
	if len(hosts) != agents || sum != want {
		t.Errorf("hosts: %d with %d reports, want %d with %d", len(hosts), sum, agents, want)
	}
	t.Logf("%d reports, %d outages: %d 503 answers, %d network errors, %.0f answered from the journal; stored once each",
		want, outages, unavailable.Load(), netErrs.Load(), counter(t, m.Acked))
}

// TestQueueFullAnswers503 posts reports over HTTP behind a stalled store
// until the queue is full: the refusal is a 503 whose Retry-After comes
// from the queue (5s and jitter before any batch was written), not the
// constant.
func TestQueueFullAnswers503(t *testing.T) {
	db := storetest.New(t)
	blocked := &blockingStore{release: make(chan struct{})}
	w := start(t, blocked, ingest.Options{MaxQueueBytes: 8 << 10, FlushInterval: time.Millisecond})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(api.New(db, logger, api.Options{NoAuth: true, Ingest: w, StoreTimeout: time.Minute}))
	defer srv.Close()
	var wg sync.WaitGroup
	defer func() { close(blocked.release); wg.Wait() }()
	refused := make(chan *http.Response, 20)
	for range 20 {
		wg.Go(func() {
			body, _ := json.Marshal(report(uuid.NewString(), uuid.NewString()))
			resp, err := http.Post(srv.URL+wire.PathReports, "application/json", bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				refused <- resp
			}
		})
	}
	resp := <-refused
	// 5 s, and jitter of up to half of it (2 s).
	if after, err := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusServiceUnavailable || err != nil || after < 5 || after > 7 {
		t.Errorf("full queue: %d with Retry-After %q, want 503 with Retry-After 5 to 7", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
