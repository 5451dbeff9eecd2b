package snmp

import (
	"bytes"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// tableMIB is a sysName, an ifTable-like table with sparse columns and
// rows, and a small table after it.
func tableMIB(rows int) []gosnmp.SnmpPDU {
	mib := []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.1.5.0", Type: gosnmp.OctetString, Value: []byte("fake")}}
	for _, col := range []int{1, 2, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22} {
		for row := 1; row <= rows; row++ {
			if col == 5 && row%3 == 0 {
				continue // a column without some rows
			}
			mib = append(mib, gosnmp.SnmpPDU{Name: fmt.Sprintf(".1.3.6.1.2.1.2.2.1.%d.%d", col, row), Type: gosnmp.Integer, Value: col*1000 + row})
		}
	}
	for row := 1; row <= 5; row++ {
		mib = append(mib, gosnmp.SnmpPDU{Name: fmt.Sprintf(".1.3.6.1.2.1.4.22.1.2.2.10.0.0.%d", row), Type: gosnmp.OctetString, Value: []byte{0, 0x1b, 0x21, 0, 0, byte(row)}})
	}
	mib = append(mib, gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.31.1.1.1.1.1", Type: gosnmp.OctetString, Value: []byte("eth0")})
	slices.SortFunc(mib, func(a, b gosnmp.SnmpPDU) int {
		pa, _ := parseOID(a.Name)
		pb, _ := parseOID(b.Name)
		return compareOID(pa, pb)
	})
	return mib
}

// TestWalkTable walks tables, a leaf and an empty subtree as the CLI
// does, the columns of a table side by side: what it reads is what a
// walk of one OID at a time reads, in the same order, in far fewer
// requests — also from an agent that caps its answers, and from one that
// answers only the first OID of a request.
func TestWalkTable(t *testing.T) {
	const rows = 120
	mib := tableMIB(rows)
	roots := []string{"1.3.6.1.2.1.2.2", ".1.3.6.1.2.1.4.22", "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.99", "1.3.6.1.2.1.2.2.1.5"}
	var want []string
	for _, r := range roots {
		pr, _ := parseOID(r)
		for _, v := range mib {
			po, _ := parseOID(v.Name)
			if hasPrefix(po, pr) || compareOID(po, pr) == 0 {
				want = append(want, FormatPDU(v))
			}
		}
	}
	// Column after column, one OID a request: the reference.
	ref := startFakeAgentMIB(t, "127.0.0.1", 0, "ok", mib, 0)
	p := New(Options{Port: uint16(ref.port()), Timeout: time.Second, MaxRepetitions: 25})
	s, err := p.dial(t.Context(), netip.MustParseAddr("127.0.0.1"), Community("public"))
	if err != nil {
		t.Fatal(err)
	}
	var one []string
	for _, r := range roots {
		recs, err := p.walk(t.Context(), s, r, 0)
		if err != nil {
			t.Fatalf("walk(%s): %v", r, err)
		}
		for _, rec := range recs {
			one = append(one, FormatPDU(rec.PDU))
		}
	}
	s.close()
	if !slices.Equal(one, want) {
		t.Fatalf("walking one OID a request: %d records, want %d", len(one), len(want))
	}
	sequential := ref.requests.Load()

	for i, c := range []struct {
		mode    string
		maxVars int
	}{{"ok", 0}, {"ok", 100}, {"ok", 7}, {"first-only", 0}, {"first-only", 100}} {
		t.Run(fmt.Sprintf("%s-%d", c.mode, c.maxVars), func(t *testing.T) {
			ip := netip.AddrFrom4([4]byte{127, 0, 0, byte(40 + i)})
			a := startFakeAgentMIB(t, ip.String(), ref.port(), c.mode, mib, c.maxVars)
			var got []string
			err := p.Walk(t.Context(), ip, Community("public"), roots, func(r Record) error {
				got = append(got, FormatPDU(r.PDU))
				return nil
			})
			if err != nil {
				t.Fatalf("Walk: %v", err)
			}
			if !slices.Equal(got, want) {
				for j := range min(len(got), len(want)) {
					if got[j] != want[j] {
						t.Errorf("record %d = %s, want %s", j, got[j], want[j])
						break
					}
				}
				t.Fatalf("Walk: %d records, want %d", len(got), len(want))
			}
			n := a.requests.Load()
			var text bytes.Buffer
			if err := p.WalkText(t.Context(), ip, Community("public"), roots, &text); err != nil {
				t.Fatalf("WalkText: %v", err)
			}
			if text.String() != strings.Join(want, "\n")+"\n" {
				t.Errorf("WalkText printed %d lines, want the %d records", strings.Count(text.String(), "\n"), len(want))
			}
			t.Logf("%d records in %d requests; one OID a request took %d", len(got), n, sequential)
			// Two sessions with a request in flight each split the
			// cursors between them, so count against two thirds.
			if c.mode == "ok" && c.maxVars != 7 && n > 2*sequential/3 {
				t.Errorf("%d requests; want at most two thirds of the %d one OID a request takes", n, sequential)
			}
		})
	}
}

// TestWalkStops: an error of the consumer ends the walk at once, and a
// walk of a table bounded by MaxWalkRecords fails with errWalkLimit.
func TestWalkStops(t *testing.T) {
	a := startFakeAgentMIB(t, "127.0.0.1", 0, "ok", tableMIB(50), 100)
	p := New(Options{Port: uint16(a.port()), Timeout: time.Second, MaxWalkRecords: 300})
	stop := fmt.Errorf("enough")
	n := 0
	err := p.Walk(t.Context(), netip.MustParseAddr("127.0.0.1"), Community("public"), []string{"1.3.6.1.2.1.2.2"}, func(Record) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	if err != stop || n != 10 {
		t.Errorf("Walk = %v after %d records; want the consumer's error after 10", err, n)
	}
	n = 0
	err = p.Walk(t.Context(), netip.MustParseAddr("127.0.0.1"), Community("public"), []string{"1.3.6.1.2.1.2.2"}, func(Record) error {
		n++
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), errWalkLimit.Error()) || n > 300 {
		t.Errorf("Walk = %v after %d records; want the record limit (300)", err, n)
	}
}

// TestWalkHostile walks a table of agents that return decreasing OIDs,
// loop, never end, send garbage or stop answering: each walk fails within
// its bounds and leaves nothing running.
func TestWalkHostile(t *testing.T) {
	good := startFakeAgentMIB(t, "127.0.0.1", 0, "ok", tableMIB(30), 100)
	modes := []string{"decreasing", "loop", "endless", "garbage", "silent-walks"}
	for i, mode := range modes {
		startFakeAgentMIB(t, netip.AddrFrom4([4]byte{127, 0, 0, byte(60 + i)}).String(), good.port(), mode, tableMIB(30), 100)
	}
	before := runtime.NumGoroutine()
	p := New(Options{Port: uint16(good.port()), Timeout: 100 * time.Millisecond, MaxWalkRecords: 500, WalkTimeout: time.Second})
	for i, mode := range modes {
		ip := netip.AddrFrom4([4]byte{127, 0, 0, byte(60 + i)})
		start := time.Now()
		n := 0
		err := p.Walk(t.Context(), ip, Community("public"), []string{"1.3.6.1.2.1.2.2"}, func(Record) error {
			n++
			return nil
		})
		took := time.Since(start)
		t.Logf("%s: %d records, %v, in %v", mode, n, err, took.Round(time.Millisecond))
		if err == nil || n > 500 || took > 2*time.Second {
			t.Errorf("%s: Walk = %v after %d records in %v; want an error within the bounds", mode, err, n, took)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after the walks, %d before", n, before)
	}
}
