package ingest

import (
	"testing"
	"time"
)

func TestDrainRate(t *testing.T) {
	var d drainRate
	if got := d.wait(1 << 20); got != 5*time.Second {
		t.Errorf("wait before any write = %v, want the default 5s", got)
	}
	t0 := time.Unix(1000, 0)
	// 10 MB/s: batches of 5 MB taking 500ms, back to back.
	for i := range 10 {
		start := t0.Add(time.Duration(i) * 500 * time.Millisecond)
		d.add(5e6, start, start.Add(500*time.Millisecond))
	}
	for _, c := range []struct {
		queued int64
		want   time.Duration
	}{
		{1e6, time.Second},       // 0.1 s, at least 1 s
		{30e6, 3 * time.Second},  // 3 s
		{95e6, 10 * time.Second}, // 9.5 s, rounded up
		{10e9, time.Minute},      // 1,000 s, at most a minute
	} {
		if got := d.wait(c.queued); got != c.want {
			t.Errorf("wait(%d) at 10 MB/s = %v, want %v", c.queued, got, c.want)
		}
	}
	// Two writers at once: overlapping time counts once, so the rate is
	// the sum of theirs.
	var p drainRate
	for i := range 10 {
		start := t0.Add(time.Duration(i) * time.Second)
		p.add(5e6, start, start.Add(time.Second))
		p.add(5e6, start, start.Add(time.Second))
	}
	if got := p.wait(50e6); got < 4*time.Second || got > 6*time.Second {
		t.Errorf("wait(50 MB) with two writers at 5 MB/s each = %v, want about 5s", got)
	}
}
