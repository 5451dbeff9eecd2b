package snmp

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/testbed"
)

// TestBenchWalk is for scripts/bench.sh only: it times this package's
// table walk of one agent, as `snmpbulkwalk -v2c -Cr<N>` is timed. It
// runs when UMBRA_BENCH_SNMP is set to
//
//	ADDR COMMUNITY MAX_REPETITIONS RUNS OID…
//
// and only inside an isolated namespace (no default route), and prints
// one line per run: "walk_seconds S records N".
func TestBenchWalk(t *testing.T) {
	spec := strings.Fields(os.Getenv("UMBRA_BENCH_SNMP"))
	if len(spec) == 0 {
		t.Skip("set by scripts/bench.sh only")
	}
	if len(spec) < 5 {
		t.Fatalf("UMBRA_BENCH_SNMP=%q: want ADDR COMMUNITY MAX_REPETITIONS RUNS OID…", spec)
	}
	if err := testbed.CheckIsolated(); err != nil {
		t.Fatalf("refusing to walk: %v", err)
	}
	addr, err := netip.ParseAddr(spec[0])
	if err != nil {
		t.Fatal(err)
	}
	reps, err1 := strconv.Atoi(spec[2])
	runs, err2 := strconv.Atoi(spec[3])
	if err1 != nil || err2 != nil || reps < 1 || runs < 1 {
		t.Fatalf("UMBRA_BENCH_SNMP=%q: bad numbers", spec)
	}
	// The walk `umbra-agent snmp walk` does: records printed as they
	// arrive.
	p := New(Options{MaxRepetitions: uint32(reps)})
	var times []float64
	for range runs {
		start := time.Now()
		var w lineCounter
		if err := p.WalkText(t.Context(), addr, Community(spec[1]), spec[4:], &w); err != nil {
			t.Fatal(err)
		}
		d := time.Since(start).Seconds()
		times = append(times, d)
		fmt.Printf("walk_seconds %.6f records %d\n", d, w)
	}
	slices.Sort(times)
	fmt.Printf("walk_median_seconds %.6f\n", times[len(times)/2])
}

// lineCounter counts the lines written to it.
type lineCounter int

func (c *lineCounter) Write(b []byte) (int, error) {
	*c += lineCounter(bytes.Count(b, []byte{'\n'}))
	return len(b), nil
}
