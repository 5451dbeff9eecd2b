// Package ingest writes the reports of many concurrent requests to
// ClickHouse in few large batches, and answers each request only once its
// report is stored.
//
// A request's report joins a bounded queue; one writer takes everything
// queued (up to MaxBatchReports), drops the reports already in the report
// log, and writes the rest with one INSERT per table. While it writes, the
// next batch gathers, so batches grow with the load. Every waiting request
// then learns the outcome: stored, duplicate, or an error that the API
// answers 503 with Retry-After (ClickHouse down, queue full). Nothing is
// kept for a retry here: the agent's spool is the buffer of the system.
//
// Exactly once: a report is in the log only after its other rows; the log
// is checked before writing, copies of one report within a batch are
// written once, and copies that still race (two collectors, or a crash
// after the write and before the reply) collapse in the ReplacingMergeTree
// tables, which every query reads with FINAL or uniqExact.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/umbrasec/umbra/collector/internal/metrics"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/shared/wire"
)

// ErrQueueFull is returned when the queue is at its bound; it wraps
// store.ErrUnavailable so the API asks the agent to retry later.
var ErrQueueFull = fmt.Errorf("%w: ingest queue full", store.ErrUnavailable)

// ErrStopped is returned after Run has returned.
var ErrStopped = fmt.Errorf("%w: collector shutting down", store.ErrUnavailable)

// Store is what the writer needs.
type Store interface {
	StoredReports(ctx context.Context, ids []string) (map[string]bool, error)
	StoreReports(ctx context.Context, rs []store.Received) ([]store.TableStat, error)
}

// Options tune a Writer; the zero value is usable.
type Options struct {
	// MaxQueueBytes bounds the estimated size of the reports queued or
	// being written; zero means 256 MiB.
	MaxQueueBytes int64
	// FlushInterval is how long the first report of a batch waits for
	// others; zero means 200ms.
	FlushInterval time.Duration
	// MaxBatchReports bounds a batch; zero means 2000.
	MaxBatchReports int
	// WriteTimeout bounds the writing of one batch; zero means 60s.
	WriteTimeout time.Duration
	// Metrics, if set, are updated.
	Metrics *metrics.Ingest
}

// Writer batches reports into ClickHouse.
type Writer struct {
	st  Store
	log *slog.Logger
	opt Options
	m   *metrics.Ingest

	mu       sync.Mutex
	queue    []*item
	bytes    int64 // queued and being written
	stopped  bool
	wake     chan struct{}
	inserted uint64 // batches written, for tests
}

type item struct {
	rc   store.Received
	done chan result
}

type result struct {
	duplicate bool
	err       error
}

// New returns a writer; Run must be running for Submit to succeed.
func New(st Store, logger *slog.Logger, opt Options) *Writer {
	if opt.MaxQueueBytes <= 0 {
		opt.MaxQueueBytes = 256 << 20
	}
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = 200 * time.Millisecond
	}
	if opt.MaxBatchReports <= 0 {
		opt.MaxBatchReports = 2000
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 60 * time.Second
	}
	m := opt.Metrics
	if m == nil {
		m = metrics.NewIngest()
	}
	return &Writer{st: st, log: logger, opt: opt, m: m, wake: make(chan struct{}, 1)}
}

// Submit queues a report and waits until it is stored or refused. It
// returns duplicate=true when the report had been stored before.
func (w *Writer) Submit(ctx context.Context, received time.Time, r *wire.Report) (duplicate bool, err error) {
	size, err := reportSize(r)
	if err != nil {
		return false, err
	}
	// The decoded report takes several times its JSON size in memory.
	cost := int64(size) * 3
	it := &item{rc: store.Received{At: received, Report: r, Size: size}, done: make(chan result, 1)}
	w.mu.Lock()
	switch {
	case w.stopped:
		w.mu.Unlock()
		w.m.Reports.WithLabelValues("unavailable").Inc()
		return false, ErrStopped
	case w.bytes+cost > w.opt.MaxQueueBytes && w.bytes > 0:
		w.mu.Unlock()
		w.m.Errors.WithLabelValues("queue_full").Inc()
		w.m.Reports.WithLabelValues("unavailable").Inc()
		return false, ErrQueueFull
	}
	w.bytes += cost
	w.queue = append(w.queue, it)
	w.m.QueueBytes.Set(float64(w.bytes))
	w.m.QueueReports.Set(float64(len(w.queue)))
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	select {
	case res := <-it.done:
		return res.duplicate, res.err
	case <-ctx.Done():
		// The report may still be written; the agent's retry will then be
		// answered as a duplicate.
		return false, fmt.Errorf("waiting for the report to be stored: %w", ctx.Err())
	}
}

func reportSize(r *wire.Report) (int, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("measuring report %s: %w", r.ID, err)
	}
	return len(b), nil
}

// Batches returns how many batches have been written, for tests.
func (w *Writer) Batches() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.inserted
}

// Run writes batches until ctx is done, then refuses new reports, writes
// what is queued and returns.
func (w *Writer) Run(ctx context.Context) {
	for {
		select {
		case <-w.wake:
		case <-ctx.Done():
			w.mu.Lock()
			w.stopped = true
			w.mu.Unlock()
			for w.flush(context.Background()) {
			}
			return
		}
		// Let a batch gather: the first report waits at most FlushInterval.
		t := time.NewTimer(w.opt.FlushInterval)
	gather:
		for {
			w.mu.Lock()
			n := len(w.queue)
			w.mu.Unlock()
			if n >= w.opt.MaxBatchReports {
				break
			}
			select {
			case <-t.C:
				break gather
			case <-w.wake:
			case <-ctx.Done():
				break gather
			}
		}
		t.Stop()
		for w.flush(ctx) {
			// More than one batch was queued: write on without waiting.
			w.mu.Lock()
			n := len(w.queue)
			w.mu.Unlock()
			if n < w.opt.MaxBatchReports {
				break
			}
		}
	}
}

// flush writes one batch from the queue; it returns false when the queue
// was empty.
func (w *Writer) flush(ctx context.Context) bool {
	w.mu.Lock()
	n := min(len(w.queue), w.opt.MaxBatchReports)
	batch := w.queue[:n:n]
	w.queue = append([]*item(nil), w.queue[n:]...)
	w.m.QueueReports.Set(float64(len(w.queue)))
	w.mu.Unlock()
	if n == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opt.WriteTimeout)
	defer cancel()
	w.write(ctx, batch)

	var freed int64
	for _, it := range batch {
		freed += int64(it.rc.Size) * 3
	}
	w.mu.Lock()
	w.bytes -= freed
	w.inserted++
	w.m.QueueBytes.Set(float64(w.bytes))
	w.mu.Unlock()
	return true
}

// write stores a batch and answers every item in it.
func (w *Writer) write(ctx context.Context, batch []*item) {
	// Copies of one report in the batch: write the first, answer the
	// others as duplicates once it is stored.
	first := map[string]*item{}
	copies := map[*item][]*item{}
	var ids []string
	for _, it := range batch {
		id := it.rc.Report.ID
		if f, ok := first[id]; ok {
			copies[f] = append(copies[f], it)
			continue
		}
		first[id] = it
		ids = append(ids, id)
	}
	answer := func(it *item, res result) {
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
		it.done <- res
		for _, c := range copies[it] {
			if res.err == nil {
				res.duplicate = true
			}
			w.m.Reports.WithLabelValues(map[bool]string{true: "duplicate", false: outcome}[res.err == nil]).Inc()
			c.done <- res
		}
	}

	stored, err := w.st.StoredReports(ctx, ids)
	if err != nil {
		w.m.Errors.WithLabelValues(errorKind(err)).Inc()
		w.log.Warn("cannot check reports for duplicates", "reports", len(ids), "error", err)
		for _, id := range ids {
			answer(first[id], result{err: err})
		}
		return
	}
	var todo []*item
	for _, id := range ids {
		if stored[id] {
			answer(first[id], result{duplicate: true})
		} else {
			todo = append(todo, first[id])
		}
	}
	if len(todo) == 0 {
		return
	}
	err = w.store(ctx, todo)
	if errors.Is(err, store.ErrInsert) && len(todo) > 1 {
		// One bad report must not sink the others: write them one by one.
		w.log.Warn("batch refused, writing its reports one by one", "reports", len(todo), "error", err)
		for _, it := range todo {
			answer(it, result{err: w.store(ctx, []*item{it})})
		}
		return
	}
	if err != nil {
		w.log.Warn("batch not stored", "reports", len(todo), "error", err)
	}
	w.m.BatchReports.Observe(float64(len(todo)))
	for _, it := range todo {
		answer(it, result{err: err})
	}
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
