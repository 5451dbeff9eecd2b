package snmp

import (
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
	p := New(Options{Credentials: []Credential{Community(spec[1])}, MaxRepetitions: uint32(reps)})
	var times []float64
	for range runs {
		start := time.Now()
		s, err := p.dial(t.Context(), addr, Community(spec[1]))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, oid := range spec[4:] {
			recs, err := p.walk(t.Context(), s, oid, 0)
			if err != nil {
				s.close()
				t.Fatalf("walking %s: %v", oid, err)
			}
			n += len(recs)
		}
		s.close()
		d := time.Since(start).Seconds()
		times = append(times, d)
		fmt.Printf("walk_seconds %.6f records %d\n", d, n)
	}
	slices.Sort(times)
	fmt.Printf("walk_median_seconds %.6f\n", times[len(times)/2])
}
