// Package ingest writes the reports of many concurrent requests to
// ClickHouse in few large batches, and answers each request once its
// report is safe: written to ClickHouse or, with a journal (the
// collector's default), on the collector's disk.
//
// A request's report joins a bounded queue (the bound is an estimate of the
// memory the queued reports hold). While a batch is written the next one
// gathers, so batches grow with the load: few large inserts, few parts for
// ClickHouse to merge. An idle writer takes the queue when its oldest
// report has waited FlushInterval, or as soon as no report came for a
// moment; a full batch is written at once, by a second writer if need be.
// Every waiting request then learns the outcome: stored, duplicate, or an
// error that the API answers 503 with Retry-After (ClickHouse down, queue
// full). When the queue is full, Retry-After is the time the writers need,
// at the rate they have been writing, to make room for the refused report,
// at least a second and spread by jitter.
//
// With a journal (journal.go), a report is first appended to it, many
// reports per fdatasync, and the request is answered when the report is
// written, or after AckAfter, or at once when a batch is already being
// written: the answer no longer waits for a burst to reach ClickHouse. A
// burst still arriving is held back from ClickHouse (BurstHold) and
// answered from the journal, so that writing it does not take the
// processors its answers need; it is written when it ends. A batch
// ClickHouse cannot take goes back to the queue and is tried again
// after a growing pause, new reports are refused with 503 meanwhile, and
// the journal is read back after a restart. Without a journal, nothing is
// kept for a retry: the agent's spool is the buffer.
//
// Exactly once: a report is in the log only after its other rows; the log
// is checked before writing; copies of one report within a batch, or in
// two batches written at once, are written once and the copies answered
// as duplicates; copies that still race (two collectors, a crash after
// the write and before the reply, or a report read back from the journal
// that had been written) collapse in the ReplacingMergeTree tables, which
// every query reads with FINAL or uniqExact.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/umbrasec/umbra/collector/internal/metrics"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/shared/wire"
)

// ErrQueueFull is returned, inside a *RetryError, when the queue is at its
// bound; it wraps store.ErrUnavailable so the API asks the agent to retry
// later.
var ErrQueueFull = fmt.Errorf("%w: ingest queue full", store.ErrUnavailable)

// ErrStopped is returned after Run has returned.
var ErrStopped = fmt.Errorf("%w: collector shutting down", store.ErrUnavailable)

// RetryError is a refusal that says when to try again.
type RetryError struct {
	Err   error
	After time.Duration
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("%v (retry in %s)", e.Err, e.After)
}

func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter is how long the client should wait before retrying.
func (e *RetryError) RetryAfter() time.Duration { return e.After }

// Retry-After bounds for a full queue.
const (
	minRetryAfter = time.Second
	maxRetryAfter = time.Minute
)

// Store is what the writer needs.
type Store interface {
	StoredReports(ctx context.Context, ids []string) (map[string]bool, error)
	StoreReports(ctx context.Context, rs []store.Received) ([]store.TableStat, error)
}

// Options tune a Writer; the zero value is usable.
type Options struct {
	// MaxQueueBytes bounds the estimated memory of the reports queued or
	// being written; zero means 256 MiB.
	MaxQueueBytes int64
	// FlushInterval is how long the oldest queued report waits for others
	// before a batch is written; zero means 200ms.
	FlushInterval time.Duration
	// MaxBatchReports bounds a batch; zero means 2000. A batch is also
	// bounded to a quarter of MaxQueueBytes.
	MaxBatchReports int
	// Writers is how many batches are written at once; zero means 2. A
	// second batch is written while another is only when it is full.
	Writers int
	// WriteTimeout bounds the writing of one batch; zero means 60s.
	WriteTimeout time.Duration
	// Metrics, if set, are updated.
	Metrics *metrics.Ingest
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Journal, if set, is the folder of the ingest journal (journal.go):
	// a report is then safe once it is there, so a request waits at most
	// AckAfter for ClickHouse before it is answered, and a report
	// ClickHouse could not take is kept and written again later instead
	// of being refused. Without a journal a request is answered only once
	// its report is written, and a failed write is the agent's to retry.
	Journal string
	// AckAfter is how long, with a journal, a request waits for its report
	// to be written before it is answered from the journal; zero means 1s.
	// A report that arrives while a batch is being written (it cannot be
	// written before that write ends) is answered as soon as it is in the
	// journal.
	AckAfter time.Duration
	// JournalSegmentBytes is the size at which the journal starts a new
	// segment; zero means 32 MiB.
	JournalSegmentBytes int64
	// BurstHold is how long, with a journal, a burst of reports (at least
	// burstReports queued, and more still coming) may be held back from
	// ClickHouse while it is answered from the journal; zero means 3s,
	// negative never. Writing takes the processors the answers need (the
	// driver's encoding, and ClickHouse itself when it shares the
	// machine): a burst is answered first and written as soon as it ends,
	// after BurstHold, or once the queue is half full.
	BurstHold time.Duration
}

// burstReports is how many queued reports make a burst that may be held.
const burstReports = 16

// Writer batches reports into ClickHouse.
type Writer struct {
	st  Store
	log *slog.Logger
	opt Options
	m   *metrics.Ingest

	mu       sync.Mutex
	queue    []*item
	bytes    int64 // queued and being written
	writing  int   // batches being written
	inflight map[string]*item
	stopped  bool
	wake     chan struct{}
	inserted uint64 // batches written, for tests
	drain    drainRate

	j        *journal  // nil without Options.Journal
	holding  bool      // a burst is held back from ClickHouse: its reports are answered from the journal
	failing  bool      // the last write failed for want of ClickHouse; its reports wait in the queue
	failures int       // consecutive failed writes
	retryAt  time.Time // when a failed write is tried again
}

type item struct {
	rc       store.Received
	cost     int64
	queued   time.Time
	done     chan result // nil for a report read back from the journal
	answered bool        // done has had its answer
	seg      uint64      // the journal segment holding the report
	copies   []*item     // later copies of this report, answered with it
}

type result struct {
	duplicate bool
	err       error
	journal   bool // answered from the journal, before the report is written
}

// New returns a writer; Run must be running for Submit to succeed. With a
// journal, the reports it holds are queued to be written again.
func New(st Store, logger *slog.Logger, opt Options) (*Writer, error) {
	if opt.MaxQueueBytes <= 0 {
		opt.MaxQueueBytes = 256 << 20
	}
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = 200 * time.Millisecond
	}
	if opt.MaxBatchReports <= 0 {
		opt.MaxBatchReports = 2000
	}
	if opt.Writers <= 0 {
		opt.Writers = 2
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 60 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.AckAfter <= 0 {
		opt.AckAfter = time.Second
	}
	if opt.BurstHold == 0 {
		opt.BurstHold = 3 * time.Second
	}
	m := opt.Metrics
	if m == nil {
		m = metrics.NewIngest()
	}
	w := &Writer{st: st, log: logger, opt: opt, m: m, wake: make(chan struct{}, 1), inflight: map[string]*item{}}
	if opt.Journal == "" {
		return w, nil
	}
	j, back, err := openJournal(opt.Journal, opt.JournalSegmentBytes, logger)
	if err != nil {
		return nil, err
	}
	w.j = j
	now := opt.Now()
	for _, r := range back {
		cost := int64(r.size) * memoryFactor
		w.queue = append(w.queue, &item{rc: store.Received{At: r.received, Report: r.report, Size: r.size},
			cost: cost, queued: now, seg: r.seg})
		w.bytes += cost
	}
	if len(back) > 0 {
		logger.Info("ingest journal: writing the reports it holds", "reports", len(back), "bytes", j.size())
	}
	w.gauges()
	return w, nil
}

// gauges updates the queue's gauges; w.mu is held (or w is not shared).
func (w *Writer) gauges() {
	w.m.QueueBytes.Set(float64(w.bytes))
	w.m.QueueReports.Set(float64(len(w.queue)))
	if w.j != nil {
		w.m.JournalBytes.Set(float64(w.j.size()))
	}
}

// memoryFactor is how many times its canonical JSON size a decoded report
// is estimated to take in memory until it is written.
const memoryFactor = 3

// Submit queues a report and waits until it is stored or refused. It
// returns duplicate=true when the report had been stored before. A report
// refused because the queue is full, or because ClickHouse is known to be
// down, gets a *RetryError. With a journal, a report is accepted (nil,
// duplicate=false) once it is in the journal and has waited AckAfter, or
// at once when the writers are busy.
func (w *Writer) Submit(ctx context.Context, received time.Time, r *wire.Report, body Body) (duplicate bool, err error) {
	size := body.Size
	if size <= 0 {
		if size, err = reportSize(r); err != nil {
			return false, err
		}
	}
	cost := int64(size) * memoryFactor
	it := &item{rc: store.Received{At: received, Report: r, Size: size}, cost: cost, done: make(chan result, 1)}
	w.mu.Lock()
	switch {
	case w.stopped:
		w.mu.Unlock()
		w.m.Reports.WithLabelValues("unavailable").Inc()
		return false, ErrStopped
	case w.failing:
		after := max(w.retryAt.Sub(w.opt.Now()), minRetryAfter)
		w.mu.Unlock()
		w.m.Reports.WithLabelValues("unavailable").Inc()
		return false, &RetryError{Err: ErrStoreDown, After: after.Round(time.Second)}
	case w.bytes+cost > w.opt.MaxQueueBytes && w.bytes > 0:
		// The report fits once this much has been written.
		after := w.drain.wait(w.bytes+cost-w.opt.MaxQueueBytes, rand.Int64N)
		w.mu.Unlock()
		w.m.Errors.WithLabelValues("queue_full").Inc()
		w.m.Reports.WithLabelValues("unavailable").Inc()
		return false, &RetryError{Err: ErrQueueFull, After: after}
	}
	w.bytes += cost // held while the report is journaled
	w.mu.Unlock()
	if w.j != nil {
		if body.Data == nil {
			if body.Data, err = json.Marshal(r); err != nil {
				return false, fmt.Errorf("encoding report %s: %w", r.ID, err)
			}
			body.Gzip = false
		}
		seg, err := w.j.append(encodeRecord(received, size, body))
		if err != nil {
			w.mu.Lock()
			w.bytes -= cost
			w.mu.Unlock()
			w.m.Errors.WithLabelValues("journal").Inc()
			w.m.Reports.WithLabelValues("unavailable").Inc()
			return false, err
		}
		it.seg = seg
	}
	w.mu.Lock()
	if w.stopped {
		// Too late for this run; the journal has it for the next.
		w.bytes -= cost
		w.mu.Unlock()
		if w.j != nil {
			return false, nil
		}
		w.m.Reports.WithLabelValues("unavailable").Inc()
		return false, ErrStopped
	}
	it.queued = w.opt.Now()
	w.queue = append(w.queue, it)
	// While a batch is being written this report waits for the next one:
	// at least one write's time, under load several. It is safe in the
	// journal already, so the agent is answered now.
	busy := w.writing > 0 || len(w.queue) > w.opt.MaxBatchReports || w.holding
	w.gauges()
	w.mu.Unlock()
	w.signal()
	var ack <-chan time.Time
	if w.j != nil {
		wait := w.opt.AckAfter
		if busy {
			wait = 0
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		ack = t.C
	}
	select {
	case res := <-it.done:
		if res.journal {
			w.m.Acked.Inc()
		}
		return res.duplicate, res.err
	case <-ack:
		// On disk, and written to ClickHouse as soon as it can be.
		w.m.Acked.Inc()
		return false, nil
	case <-ctx.Done():
		if w.j != nil {
			return false, nil
		}
		// The report may still be written; the agent's retry will then be
		// answered as a duplicate.
		return false, fmt.Errorf("waiting for the report to be stored: %w", ctx.Err())
	}
}

// Body is a report as it arrived, kept in the journal: its JSON, gzip
// compressed when Gzip is set. A nil Data means the report's own JSON.
// Size is the length of its JSON (reports.size_bytes); zero means the
// length of the report's canonical JSON.
type Body struct {
	Data []byte
	Gzip bool
	Size int
}

// reportSize is the size of the report's canonical JSON encoding
// (reports.size_bytes), counted without keeping the encoding.
func reportSize(r *wire.Report) (int, error) {
	var c countingWriter
	if err := json.NewEncoder(&c).Encode(r); err != nil {
		return 0, fmt.Errorf("measuring report %s: %w", r.ID, err)
	}
	return int(c) - 1, nil // Encode adds a newline
}

type countingWriter int

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

// ErrStoreDown is returned, inside a *RetryError, while the writer waits
// to try ClickHouse again after a failed write.
var ErrStoreDown = fmt.Errorf("%w: ClickHouse is unavailable", store.ErrUnavailable)

func (w *Writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Batches returns how many batches have been written, for tests.
func (w *Writer) Batches() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inserted
}

// Run writes batches until ctx is done, then refuses new reports, writes
// what is queued and returns once every write has ended. With a journal,
// what cannot be written then stays in the journal for the next run.
func (w *Writer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		if w.j != nil {
			if err := w.j.close(); err != nil {
				w.log.Warn("closing the ingest journal", "error", err)
			}
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		stopping := ctx.Err() != nil
		if stopping {
			w.mu.Lock()
			w.stopped = true
			w.mu.Unlock()
		}
		// Start every batch that is due while a writer is free.
		for {
			batch, wait := w.next(stopping)
			if batch == nil {
				if stopping && wait == 0 {
					// Nothing queued, nothing being written, and nothing
					// can be queued any more.
					return
				}
				if wait > 0 {
					timer.Reset(wait)
				}
				break
			}
			if len(batch) == 0 {
				continue // every report taken was a copy of one being written
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.flush(ctx, batch)
				w.signal()
			}()
		}
		if stopping {
			<-w.wake // a write ended: look again
			continue
		}
		select {
		case <-w.wake:
		case <-timer.C:
		case <-ctx.Done():
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// next takes the next batch off the queue when one is due and a writer is
// free. Otherwise it returns how long until a batch may be due, zero when
// the queue is empty, negative when only the end of a write can make one
// due. When stopping, every queued report is due.
func (w *Writer) next(stopping bool) (batch []*item, wait time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		if stopping && w.writing > 0 {
			return nil, -1 // not done yet: the caller waits for a write to end
		}
		return nil, 0
	}
	if w.writing >= w.opt.Writers {
		return nil, -1
	}
	if w.failing && !stopping {
		if wait := w.retryAt.Sub(w.opt.Now()); wait > 0 {
			return nil, wait
		}
	}
	if wait := w.hold(stopping); wait > 0 {
		return nil, wait
	}
	maxBytes := max(w.opt.MaxQueueBytes/4, 1)
	n, bytes := 0, int64(0)
	for n < len(w.queue) && n < w.opt.MaxBatchReports && (n == 0 || bytes+w.queue[n].cost <= maxBytes) {
		bytes += w.queue[n].cost
		n++
	}
	full := n < len(w.queue) || n == w.opt.MaxBatchReports
	if !stopping && !full {
		// A batch that is not full waits for the writers to be idle: the
		// reports queued meanwhile make the next insert bigger, and every
		// insert is a part ClickHouse must merge later. It is due when its
		// oldest report has waited FlushInterval, or earlier when no
		// report came for a short while (the burst has been received).
		if w.writing > 0 {
			return nil, -1
		}
		now := w.opt.Now()
		age, idle := now.Sub(w.queue[0].queued), now.Sub(w.queue[len(w.queue)-1].queued)
		gap := min(w.opt.FlushInterval/4, 50*time.Millisecond)
		if age < w.opt.FlushInterval && idle < gap {
			return nil, min(w.opt.FlushInterval-age, gap-idle)
		}
	}
	batch = make([]*item, 0, n)
	for _, it := range w.queue[:n] {
		// A copy of a report another batch is writing waits for it.
		if first, ok := w.inflight[it.rc.Report.ID]; ok {
			first.copies = append(first.copies, it)
			continue
		}
		w.inflight[it.rc.Report.ID] = it
		batch = append(batch, it)
	}
	w.queue = append(w.queue[:0:0], w.queue[n:]...)
	w.m.QueueReports.Set(float64(len(w.queue)))
	if len(batch) > 0 {
		w.writing++
		w.m.Writing.Set(float64(w.writing))
	}
	return batch, 0
}

// hold says how long to hold the queue back from ClickHouse while a burst
// is still arriving (see Options.BurstHold), zero when it is not held;
// w.mu is held. When a hold begins, the reports waiting for ClickHouse are
// answered: they are in the journal, and the burst is not written before
// it ends. Those that come while it lasts are answered by Submit.
func (w *Writer) hold(stopping bool) time.Duration {
	began := !w.holding
	w.holding = false
	if w.j == nil || stopping || w.failing || w.opt.BurstHold < 0 || len(w.queue) < burstReports ||
		w.bytes > w.opt.MaxQueueBytes/2 {
		return 0
	}
	now := w.opt.Now()
	age, idle := now.Sub(w.queue[0].queued), now.Sub(w.queue[len(w.queue)-1].queued)
	gap := min(w.opt.FlushInterval/4, 50*time.Millisecond)
	if age >= w.opt.BurstHold || idle >= gap {
		return 0
	}
	w.holding = true
	if began {
		for _, it := range w.queue {
			w.notify(it, result{journal: true})
		}
	}
	return min(w.opt.BurstHold-age, gap-idle)
}

// flush writes one batch and frees its place in the queue. With a
// journal, the reports of a batch that could not be written for want of
// ClickHouse go back to the head of the queue, and are tried again after a
// pause that grows with each failure.
func (w *Writer) flush(ctx context.Context, batch []*item) {
	start := w.opt.Now()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opt.WriteTimeout)
	ok, again := w.write(wctx, batch)
	cancel()
	w.log.Info("batch written", "reports", len(batch), "ok", ok, "again", len(again),
		"seconds", w.opt.Now().Sub(start).Seconds(), "waited_seconds", start.Sub(batch[0].queued).Seconds())
	stopping := ctx.Err() != nil
	var freed int64
	for _, it := range batch {
		freed += it.cost
	}
	w.mu.Lock()
	for _, it := range batch {
		if w.inflight[it.rc.Report.ID] == it {
			delete(w.inflight, it.rc.Report.ID)
		}
	}
	w.bytes -= freed
	w.writing--
	w.inserted++
	var copies []*item
	for _, it := range again {
		copies = append(copies, it.copies...)
		it.copies = nil
	}
	back := append(slices.Clip(again), copies...)
	// They are in the journal: answer the requests still waiting now
	// rather than after AckAfter.
	for _, it := range back {
		w.notify(it, result{})
	}
	switch {
	case len(back) > 0 && !stopping:
		for _, it := range again {
			w.bytes += it.cost // back in the queue; the copies still count
		}
		w.queue = append(back, w.queue...)
		w.failures++
		w.failing = true
		pause := min(time.Duration(1<<min(w.failures-1, 5))*time.Second, 30*time.Second)
		w.retryAt = w.opt.Now().Add(pause)
		w.log.Warn("ClickHouse unavailable: reports kept in the journal, writing again later",
			"reports", len(back), "retry_in", pause)
	case len(back) > 0:
		// Stopping: the journal keeps them for the next run.
		for _, it := range copies {
			w.bytes -= it.cost
		}
	case ok:
		w.failing, w.failures = false, 0
		w.drain.add(freed, start, w.opt.Now())
		w.m.DrainRate.Set(w.drain.rate())
	}
	w.m.Writing.Set(float64(w.writing))
	w.gauges()
	w.mu.Unlock()
}

// notify gives a waiting request its answer, once.
func (w *Writer) notify(it *item, res result) {
	if it.done != nil && !it.answered {
		it.answered = true
		it.done <- res
	}
}

// answer tells a waiting request, and the copies of its report that
// waited with it, the outcome.
func (w *Writer) answer(it *item, res result) {
	outcome := "stored"
	switch {
	case res.err != nil && errors.Is(res.err, store.ErrUnavailable):
		outcome = "unavailable"
	case res.err != nil:
		outcome = "failed"
	case res.duplicate:
		outcome = "duplicate"
	}
	w.m.Reports.WithLabelValues(outcome).Inc()
	w.notify(it, res)
	// Copies that come after this are written in a batch of their own,
	// which finds the report stored.
	w.mu.Lock()
	copies := it.copies
	it.copies = nil
	if w.inflight[it.rc.Report.ID] == it {
		delete(w.inflight, it.rc.Report.ID)
	}
	for _, c := range copies {
		w.bytes -= c.cost
	}
	w.mu.Unlock()
	if w.j != nil {
		w.j.done(it.seg)
		for _, c := range copies {
			w.j.done(c.seg)
		}
	}
	for _, c := range copies {
		cres := res
		if res.err == nil {
			cres.duplicate = true
			w.m.Reports.WithLabelValues("duplicate").Inc()
		} else {
			w.m.Reports.WithLabelValues(outcome).Inc()
		}
		w.notify(c, cres)
	}
}

// write stores a batch and answers every item in it; it reports whether
// the batch reached ClickHouse. With a journal, the reports that could not
// be written for want of ClickHouse are returned, unanswered, to be tried
// again; a report ClickHouse refuses is kept in the journal's rejected/.
func (w *Writer) write(ctx context.Context, batch []*item) (ok bool, again []*item) {
	// The batch holds one copy of each report (next attached the others
	// to it).
	ids := make([]string, len(batch))
	for i, it := range batch {
		ids[i] = it.rc.Report.ID
	}
	stored, err := w.st.StoredReports(ctx, ids)
	if err != nil {
		w.m.Errors.WithLabelValues(errorKind(err)).Inc()
		w.log.Warn("cannot check reports for duplicates", "reports", len(ids), "error", err)
		if w.j != nil {
			return false, batch
		}
		for _, it := range batch {
			w.answer(it, result{err: err})
		}
		return false, nil
	}
	var todo []*item
	for _, it := range batch {
		if stored[it.rc.Report.ID] {
			w.answer(it, result{duplicate: true})
		} else {
			todo = append(todo, it)
		}
	}
	if len(todo) == 0 {
		return true, nil
	}
	err = w.store(ctx, todo)
	if errors.Is(err, store.ErrInsert) && len(todo) > 1 {
		// One bad report must not sink the others: write them one by one.
		w.log.Warn("batch refused, writing its reports one by one", "reports", len(todo), "error", err)
		for _, it := range todo {
			err := w.store(ctx, []*item{it})
			if err != nil && w.j != nil && !errors.Is(err, store.ErrInsert) {
				again = append(again, it)
				continue
			}
			w.settle(it, err)
		}
		return len(again) == 0, again
	}
	if err != nil {
		w.log.Warn("batch not stored", "reports", len(todo), "error", err)
		if w.j != nil && !errors.Is(err, store.ErrInsert) {
			return false, todo
		}
	}
	w.m.BatchReports.Observe(float64(len(todo)))
	for _, it := range todo {
		w.settle(it, err)
	}
	return err == nil, nil
}

// settle answers a report that has been written or refused for good; a
// refused report is kept in the journal's rejected/ for an operator.
func (w *Writer) settle(it *item, err error) {
	if err != nil && w.j != nil {
		w.log.Error("ClickHouse refused a report; kept in the journal's rejected/", "report_id", it.rc.Report.ID, "error", err)
		w.j.reject(it.rc.Report, err)
	}
	w.answer(it, result{err: err})
}

func (w *Writer) store(ctx context.Context, items []*item) error {
	rs := make([]store.Received, len(items))
	for i, it := range items {
		rs[i] = it.rc
	}
	stats, err := w.st.StoreReports(ctx, rs)
	for _, s := range stats {
		w.m.Inserts.WithLabelValues(s.Table).Inc()
		w.m.Rows.WithLabelValues(s.Table).Add(float64(s.Rows))
		w.m.InsertSeconds.WithLabelValues(s.Table).Observe(s.Duration.Seconds())
	}
	if err != nil {
		w.m.Errors.WithLabelValues(errorKind(err)).Inc()
	}
	return err
}

func errorKind(err error) string {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, store.ErrInsert):
		return "insert"
	}
	return "other"
}

// drainRate measures how fast the writers empty the queue: the bytes of
// the batches written over the time the writers were busy (overlapping
// writes count their time once), both decaying so recent batches weigh
// most.
type drainRate struct {
	bytes     float64
	busy      float64 // seconds
	busyUntil time.Time
}

// decay is the weight of the past at each batch written.
const decay = 0.8

// add records a batch of bytes written from start to end.
func (d *drainRate) add(bytes int64, start, end time.Time) {
	if start.Before(d.busyUntil) {
		start = d.busyUntil
	}
	var busy time.Duration
	if end.After(start) {
		busy = end.Sub(start)
	}
	if end.After(d.busyUntil) {
		d.busyUntil = end
	}
	d.bytes = d.bytes*decay + float64(bytes)
	d.busy = d.busy*decay + busy.Seconds()
}

// rate is the drain rate in bytes per second, zero before any write.
func (d *drainRate) rate() float64 {
	if d.busy <= 0 {
		return 0
	}
	return d.bytes / d.busy
}

// wait is how long until the writers have written excess bytes (then a
// report refused now fits in the queue), in whole seconds, within the
// bounds of Retry-After, and spread by jitter (a random number of seconds
// up to half of it, at least 1, drawn by randN, which returns an int64 in
// [0, n)) so that the agents refused together do not come back together.
func (d *drainRate) wait(excess int64, randN func(n int64) int64) time.Duration {
	secs := int64(5) // nothing written yet
	if d.bytes > 0 && d.busy > 0 {
		secs = int64(math.Ceil(float64(max(excess, 0)) * d.busy / d.bytes))
	}
	lo, hi := int64(minRetryAfter/time.Second), int64(maxRetryAfter/time.Second)
	secs = min(max(secs, lo), hi)
	secs += randN(max(secs/2, 1) + 1)
	return time.Duration(min(secs, hi)) * time.Second
}
