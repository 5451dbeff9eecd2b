package ingest

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// BenchmarkJournalBurst appends 1,000 reports of 8 KiB at once, as 1,000
// agents posting together do: the group commit shares fsyncs among them.
func BenchmarkJournalBurst(b *testing.B) {
	j, _, err := openJournal(b.TempDir(), 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer j.close()
	rec := encodeRecord(time.Now(), 40<<10, Body{Data: make([]byte, 8<<10), Gzip: true})
	var worst time.Duration
	var mu sync.Mutex
	for b.Loop() {
		var wg sync.WaitGroup
		for range 1000 {
			wg.Go(func() {
				t := time.Now()
				if _, err := j.append(rec); err != nil {
					b.Error(err)
				}
				d := time.Since(t)
				mu.Lock()
				worst = max(worst, d)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	b.ReportMetric(worst.Seconds(), "worst-s")
}
