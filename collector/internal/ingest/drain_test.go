package ingest

import (
	"math/rand/v2"
	"testing"
	"time"
)

// noJitter and fullJitter draw the smallest and the largest jitter.
func noJitter(int64) int64     { return 0 }
func fullJitter(n int64) int64 { return n - 1 }

func TestDrainRate(t *testing.T) {
	var d drainRate
	if got := d.wait(1<<20, noJitter); got != 5*time.Second {
		t.Errorf("wait before any write = %v, want the default 5s", got)
	}
	t0 := time.Unix(1000, 0)
	// 10 MB/s: batches of 5 MB taking 500ms, back to back.
	for i := range 10 {
		start := t0.Add(time.Duration(i) * 500 * time.Millisecond)
		d.add(5e6, start, start.Add(500*time.Millisecond))
	}
	for _, c := range []struct {
		excess   int64
		want     time.Duration // without jitter
		jittered time.Duration // with the most jitter
	}{
		{-1, time.Second, 2 * time.Second},          // fits already (raced): at least 1 s
		{1e6, time.Second, 2 * time.Second},         // 0.1 s, at least 1 s; jitter at least 1 s
		{30e6, 3 * time.Second, 4 * time.Second},    // 3 s, jitter up to half of it (1 s)
		{95e6, 10 * time.Second, 15 * time.Second},  // 9.5 s, rounded up; jitter up to 5 s
		{10e9, time.Minute, time.Minute},            // 1,000 s, at most a minute
		{590e6, 59 * time.Second, time.Minute},      // jitter does not pass the bound
		{101e6, 11 * time.Second, 16 * time.Second}, // 10.1 s: 11 s, jitter up to 5 s
	} {
		if got := d.wait(c.excess, noJitter); got != c.want {
			t.Errorf("wait(%d) at 10 MB/s = %v, want %v", c.excess, got, c.want)
		}
		if got := d.wait(c.excess, fullJitter); got != c.jittered {
			t.Errorf("wait(%d) at 10 MB/s with the most jitter = %v, want %v", c.excess, got, c.jittered)
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
	if got := p.wait(50e6, noJitter); got < 4*time.Second || got > 6*time.Second {
		t.Errorf("wait(50 MB) with two writers at 5 MB/s each = %v, want about 5s", got)
	}
}

// Agents refused at the same moment are told to come back at different
// times, spread over the jitter's range.
func TestDrainRateJitterSpreads(t *testing.T) {
	var d drainRate
	t0 := time.Unix(1000, 0)
	for i := range 10 {
		start := t0.Add(time.Duration(i) * time.Second)
		d.add(1e6, start, start.Add(time.Second)) // 1 MB/s
	}
	seen := map[time.Duration]int{}
	for range 1000 {
		got := d.wait(8e6, rand.Int64N) // 8 s, jitter up to 4 s
		if got < 8*time.Second || got > 12*time.Second || got%time.Second != 0 {
			t.Fatalf("wait = %v, want whole seconds from 8 s to 12 s", got)
		}
		seen[got]++
	}
	if len(seen) != 5 {
		t.Errorf("1000 refusals got %d different waits (%v), want all 5 of 8 s to 12 s", len(seen), seen)
	}
	for w, n := range seen {
		if n < 100 { // 200 expected each
			t.Errorf("wait %v drawn %d times of 1000: not spread", w, n)
		}
	}
}
