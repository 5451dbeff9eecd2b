package ingest_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/umbrasec/umbra/collector/internal/ingest"
	"github.com/umbrasec/umbra/collector/internal/metrics"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
	"github.com/umbrasec/umbra/shared/wire"
)

// run starts a writer and returns a function that stops it.
func run(t *testing.T, st ingest.Store, opt ingest.Options) (*ingest.Writer, func()) {
	t.Helper()
	w, err := ingest.New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return w, stop
}

// segments lists the journal's segment files that hold anything (a
// segment prepared for use is all zeros), and segments set aside.
func segments(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "seg-") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.Trim(b, "\x00")) > 0 || strings.HasSuffix(e.Name(), ".corrupt") {
			out = append(out, e.Name())
		}
	}
	return out
}

func gzipBody(t *testing.T, r *wire.Report) ingest.Body {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if err := json.NewEncoder(zw).Encode(r); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return ingest.Body{Data: b.Bytes(), Gzip: true}
}

// downStore is ClickHouse down: every call fails as unavailable.
type downStore struct{}

func (downStore) StoredReports(context.Context, []string) (map[string]bool, error) {
	return nil, fmt.Errorf("%w: connection refused", store.ErrUnavailable)
}

func (downStore) StoreReports(context.Context, []store.Received) ([]store.TableStat, error) {
	return nil, fmt.Errorf("%w: connection refused", store.ErrUnavailable)
}

// stallStore is ClickHouse hung: a write waits for its deadline and fails
// as unavailable.
type stallStore struct{}

func (stallStore) StoredReports(ctx context.Context, _ []string) (map[string]bool, error) {
	<-ctx.Done()
	return nil, fmt.Errorf("%w: %w", store.ErrUnavailable, ctx.Err())
}

func (stallStore) StoreReports(ctx context.Context, _ []store.Received) ([]store.TableStat, error) {
	<-ctx.Done()
	return nil, fmt.Errorf("%w: %w", store.ErrUnavailable, ctx.Err())
}

// TestJournalAnswersBeforeASlowStore: a report is answered once it is in
// the journal and has waited AckAfter, though the store has not written
// it; it is written once the store moves, and its segment then goes.
func TestJournalAnswersBeforeASlowStore(t *testing.T) {
	dir := t.TempDir()
	g := &gateStore{started: make(chan struct{}, 10), release: make(chan struct{})}
	m := metrics.NewIngest()
	w, stop := run(t, g, ingest.Options{Journal: dir, AckAfter: 50 * time.Millisecond, FlushInterval: time.Millisecond,
		JournalSegmentBytes: 1, Metrics: m})
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(g.release) }) }) // before stop, on failure
	rep := report(uuid.NewString(), uuid.NewString())
	start := time.Now()
	dup, err := w.Submit(context.Background(), time.Now(), rep, ingest.Body{})
	if err != nil || dup {
		t.Fatalf("Submit = %v, %v; want accepted", dup, err)
	}
	t.Logf("answered after %v with the store held", time.Since(start))
	if got := counter(t, m.Acked); got != 1 {
		t.Errorf("journal acks = %v, want 1", got)
	}
	<-g.started
	if len(g.written) != 0 {
		t.Fatal("written before the store was released")
	}
	if segs := segments(t, dir); len(segs) != 1 {
		t.Fatalf("journal segments while the report waits: %v, want one", segs)
	}
	release.Do(func() { close(g.release) })
	// A retry of it while it is written, or after, is a duplicate, and
	// nothing is written twice.
	if dup, err := w.Submit(context.Background(), time.Now(), rep, ingest.Body{}); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("retry answered duplicate=%v", dup)
	}
	stop()
	g.mu.Lock()
	written := slices.Clone(g.written)
	g.mu.Unlock()
	if len(written) != 1 || written[0] != rep.ID {
		t.Errorf("written %v, want %s once", written, rep.ID)
	}
	// Every report written: no segment is left.
	if segs := segments(t, dir); len(segs) != 0 {
		t.Errorf("journal segments after everything was written: %v", segs)
	}
}

// TestJournalKeepsReportsWhileClickHouseIsDown: the reports accepted when
// the store fails stay in the journal, the next ones are refused with
// Retry-After, and a new writer (the restarted collector) writes them to
// ClickHouse once each — also the one the first writer had written before
// it died without marking it done, and despite a record cut short at the
// end of the journal.
func TestJournalKeepsReportsWhileClickHouseIsDown(t *testing.T) {
	dir := t.TempDir()
	agent := uuid.NewString()
	w, stop := run(t, downStore{}, ingest.Options{Journal: dir, AckAfter: time.Minute, FlushInterval: time.Millisecond})
	var accepted []string
	first := report(agent, uuid.NewString())
	if _, err := w.Submit(context.Background(), time.Now(), first, ingest.Body{}); err != nil {
		t.Fatalf("first report while the failure is not yet known: %v, want accepted (it is in the journal)", err)
	}
	accepted = append(accepted, first.ID)
	// The failed write is now known: reports are refused until it is
	// tried again.
	_, err := w.Submit(context.Background(), time.Now(), report(agent, uuid.NewString()), ingest.Body{})
	var re *ingest.RetryError
	if !errors.As(err, &re) || !errors.Is(err, ingest.ErrStoreDown) || !errors.Is(err, store.ErrUnavailable) || re.After < time.Second {
		t.Fatalf("Submit while ClickHouse is down = %v, want a RetryError wrapping ErrStoreDown", err)
	}
	stop()

	// A crash after a write and before the journal knew: the report is in
	// ClickHouse and in the journal.
	db := storetest.New(t)
	done := report(agent, uuid.NewString())
	w2, stop2 := run(t, db, ingest.Options{Journal: dir, AckAfter: time.Minute, FlushInterval: time.Millisecond})
	if _, err := w2.Submit(context.Background(), time.Now(), done, ingest.Body{}); err != nil {
		t.Fatal(err)
	}
	accepted = append(accepted, done.ID)
	// w2 wrote first and done; put done back in the journal as if w2 had
	// died before marking it written, and add a torn record.
	stop2()
	if segs := segments(t, dir); len(segs) != 0 {
		t.Fatalf("segments after everything was written: %v", segs)
	}
	// Both are accepted while the first write hangs.
	w3, stop3 := run(t, stallStore{}, ingest.Options{Journal: dir, AckAfter: time.Millisecond, FlushInterval: time.Hour,
		WriteTimeout: 2 * time.Second})
	if _, err := w3.Submit(context.Background(), time.Now(), done, ingest.Body{}); err != nil {
		t.Fatal(err)
	}
	// As the agent sent it: gzip JSON, kept so in the journal.
	third := report(agent, uuid.NewString())
	if _, err := w3.Submit(context.Background(), time.Now(), third, gzipBody(t, third)); err != nil {
		t.Fatal(err)
	}
	accepted = append(accepted, third.ID)
	stop3()
	segs := segments(t, dir)
	if len(segs) == 0 {
		t.Fatal("nothing in the journal after a stop with ClickHouse down")
	}
	// A record cut short where the next would go (the zeros after the
	// last record).
	last := filepath.Join(dir, segs[len(segs)-1])
	b, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	end := 0
	for end+8 <= len(b) && binary.LittleEndian.Uint32(b[end:]) != 0 {
		end += 8 + int(binary.LittleEndian.Uint32(b[end:]))
	}
	if end == 0 || end+9 > len(b) {
		t.Fatalf("no room after the records of %s (%d bytes)", last, len(b))
	}
	f, err := os.OpenFile(last, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{200, 0, 0, 0, 1, 2, 3, 4, '{'}, int64(end)); err != nil {
		t.Fatal(err)
	}
	f.Close()

	_, stop4 := run(t, db, ingest.Options{Journal: dir, FlushInterval: time.Millisecond})
	waitUntil(t, "the journal's reports in ClickHouse", time.Minute, func() bool {
		n, err := db.Count(context.Background(), "SELECT uniqExact(report_id) FROM reports")
		return err == nil && n >= uint64(len(accepted))
	})
	stop4()
	for _, q := range []string{"SELECT count() FROM reports FINAL", "SELECT count() FROM inventories FINAL", "SELECT uniqExact(report_id) FROM reports"} {
		if got := count(t, db, q); got != uint64(len(accepted)) {
			t.Errorf("%s = %d, want %d", q, got, len(accepted))
		}
	}
	for _, id := range accepted {
		if got, err := db.StoredReports(context.Background(), []string{id}); err != nil || !got[id] {
			t.Errorf("report %s accepted but not stored (%v)", id, err)
		}
	}
	if segs := segments(t, dir); len(segs) != 0 {
		t.Errorf("segments after the journal drained: %v", segs)
	}
}

// refusingStore writes every report but one, which it refuses as a bad
// insert.
type refusingStore struct {
	gateStore
	bad string
}

func (r *refusingStore) StoreReports(ctx context.Context, rs []store.Received) ([]store.TableStat, error) {
	for _, rc := range rs {
		if rc.Report.ID == r.bad {
			return nil, fmt.Errorf("%w: Cannot parse input", store.ErrInsert)
		}
	}
	r.record(rs)
	return nil, nil
}

// TestJournalSetsRefusedReportsAside: a report ClickHouse refuses costs
// only itself; it is kept in rejected/ and its segment still goes.
func TestJournalSetsRefusedReportsAside(t *testing.T) {
	dir := t.TempDir()
	bad := report(uuid.NewString(), "bad/../"+uuid.NewString())
	st := &refusingStore{bad: bad.ID}
	w, stop := run(t, st, ingest.Options{Journal: dir, AckAfter: time.Minute, FlushInterval: 20 * time.Millisecond})
	good := report(uuid.NewString(), uuid.NewString())
	var wg sync.WaitGroup
	var badErr, goodErr error
	wg.Go(func() { _, badErr = w.Submit(context.Background(), time.Now(), bad, ingest.Body{}) })
	wg.Go(func() { _, goodErr = w.Submit(context.Background(), time.Now(), good, ingest.Body{}) })
	wg.Wait()
	stop()
	if goodErr != nil || !errors.Is(badErr, store.ErrInsert) {
		t.Errorf("good report: %v (want nil); refused report: %v (want ErrInsert)", goodErr, badErr)
	}
	if len(st.written) != 1 || st.written[0] != good.ID {
		t.Errorf("written %v, want only %s", st.written, good.ID)
	}
	kept, err := os.ReadDir(filepath.Join(dir, "rejected"))
	if err != nil || len(kept) != 1 || strings.ContainsAny(kept[0].Name(), "/\\") {
		t.Fatalf("rejected/ = %v, %v; want the refused report", kept, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "rejected", kept[0].Name()))
	if err != nil || !strings.Contains(string(b), bad.ID) || !strings.Contains(string(b), "Cannot parse input") {
		t.Errorf("rejected report file = %.200s, %v; want the report and the reason", b, err)
	}
	if segs := segments(t, dir); len(segs) != 0 {
		t.Errorf("segments left: %v", segs)
	}
}

// TestJournalCorruptRecord: a record whose checksum is wrong ends the
// reading of its segment; the reports before it are written, and the
// segment is kept aside (.corrupt) for an operator rather than deleted.
func TestJournalCorruptRecord(t *testing.T) {
	dir := t.TempDir()
	w, stop := run(t, stallStore{}, ingest.Options{Journal: dir, AckAfter: time.Millisecond, FlushInterval: time.Hour,
		WriteTimeout: 2 * time.Second})
	var ids []string
	for range 3 {
		r := report(uuid.NewString(), uuid.NewString())
		if _, err := w.Submit(context.Background(), time.Now(), r, ingest.Body{}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	stop()
	segs := segments(t, dir)
	if len(segs) != 1 {
		t.Fatalf("segments = %v, want one", segs)
	}
	path := filepath.Join(dir, segs[0])
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte of the second report's id.
	i := strings.Index(string(b), ids[1])
	if i < 0 {
		t.Fatal("second report not found in the segment")
	}
	b[i] ^= 0x01
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	g := &gateStore{started: make(chan struct{}, 10), release: make(chan struct{})}
	close(g.release)
	_, stop2 := run(t, g, ingest.Options{Journal: dir, FlushInterval: time.Millisecond})
	waitUntil(t, "the first report written", 10*time.Second, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.written) > 0
	})
	stop2()
	if !slices.Equal(g.written, ids[:1]) {
		t.Errorf("written %v, want only the report before the corrupt record %v", g.written, ids[:1])
	}
	if segs := segments(t, dir); !slices.Equal(segs, []string{filepath.Base(path) + ".corrupt"}) {
		t.Errorf("segments = %v, want the corrupt one kept aside", segs)
	}
}

// TestJournalHoldsABurst: with a journal, a burst of reports is answered
// from the journal while it arrives and written once it has ended, in one
// batch, each report once; a lone report is still answered once written.
func TestJournalHoldsABurst(t *testing.T) {
	dir := t.TempDir()
	g := &gateStore{started: make(chan struct{}, 10), release: make(chan struct{})}
	m := metrics.NewIngest()
	// AckAfter is long: an answer within it came from the hold.
	w, stop := run(t, g, ingest.Options{Journal: dir, AckAfter: time.Minute, FlushInterval: 200 * time.Millisecond,
		BurstHold: time.Minute, Metrics: m})
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(g.release) }) })
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	ids := make([]string, n)
	go1 := make(chan struct{}) // all at once
	for i := range n {
		ids[i] = uuid.NewString()
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-go1
			if dup, err := w.Submit(context.Background(), time.Now(), report(uuid.NewString(), ids[i]), ingest.Body{}); err != nil || dup {
				errs <- fmt.Errorf("Submit = %v, %v; want accepted", dup, err)
			}
		}()
	}
	start := time.Now()
	close(go1)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("the burst was answered after %v: it waited for the store", d)
	}
	if got := counter(t, m.Acked); got != n {
		t.Errorf("journal acks = %v, want %d", got, n)
	}
	// Written once the burst ended, as one batch (the store is held, so
	// the first write cannot have ended).
	select {
	case <-g.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the burst was not written after it ended")
	}
	release.Do(func() { close(g.release) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		written := slices.Clone(g.written)
		g.mu.Unlock()
		slices.Sort(written)
		want := slices.Sorted(slices.Values(ids))
		if slices.Equal(written, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("written %d reports, want each of %d once", len(written), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := w.Batches(); got != 1 {
		t.Errorf("batches = %d, want the burst in one", got)
	}
	// A lone report is not a burst: its answer waits for the write.
	lone := report(uuid.NewString(), uuid.NewString())
	if _, err := w.Submit(context.Background(), time.Now(), lone, ingest.Body{}); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	stored := slices.Contains(g.written, lone.ID)
	g.mu.Unlock()
	if !stored {
		t.Error("a lone report was answered before it was written")
	}
	if got := counter(t, m.Acked); got != n {
		t.Errorf("journal acks after a lone report = %v, want %d", got, n)
	}
	stop()
}
