package reconcile

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// bruteShadowPage is the first page of the report by sorting everything.
// seen last first, then by id (as strings).
func bruteShadowPage(cur map[string]int64, n int) []string {
	ids := slices.Collect(maps.Keys(cur))
	slices.SortFunc(ids, func(a, b string) int {
		if c := cmp.Compare(cur[b], cur[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return append([]string{}, ids[:min(n, len(ids))]...)
}

// resetFrom resets x as a rebuild does, from the metas of the findings open
// in open (id -> last seen, Unix seconds).
func resetFrom(x *shadowIndex, open map[string]int64) {
	ms := newMetas()
	for id, at := range open {
		ms.set(id, findingMeta{open: true, shadow: true, lastSeen: time.Unix(at, 0).UnixNano()})
	}
	ms.set(fid(-1), findingMeta{shadow: true}) // resolved: not in the report
	x.reset(ms.openShadow())
}

// fid is the id of the i-th finding of a test.
func fid(i int) string { return FindingID(KindUnregisteredDevice, fmt.Sprint("device:d", i)) }

// The index gives the page a full sort gives, through runs that open,
// move (seen again), close and reopen findings, across its merges.
func TestShadowIndexMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := newShadowIndex()
	if _, _, ok := x.page(10); ok {
		t.Fatal("an index never reset answered a page")
	}
	want := map[string]int64{}
	for i := range 3000 {
		want[fid(i)] = int64(rng.IntN(500))
	}
	resetFrom(x, want)
	for run := range 200 {
		var cs []shadowChange
		for range rng.IntN(400) {
			id := fid(rng.IntN(5000))
			switch rng.IntN(4) {
			case 0: // closes
				delete(want, id)
				cs = append(cs, shadowChange{id: id})
			case 1: // reopens or is seen again at the same time
				at, ok := want[id]
				if !ok {
					at = int64(rng.IntN(500))
				}
				want[id] = at
				cs = append(cs, shadowChange{id: id, at: at, open: true})
			default: // seen again, later (or new)
				at := int64(500 + run*10 + rng.IntN(20))
				want[id] = at
				cs = append(cs, shadowChange{id: id, at: at, open: true})
			}
		}
		x.update(cs)
		for _, n := range []int{0, 1, 100, 10000} {
			got, total, ok := x.page(n)
			if !ok || total != uint64(len(want)) || !slices.Equal(got, bruteShadowPage(want, n)) {
				t.Fatalf("run %d: page(%d) = %d ids of %d (ok %v); want %d of %d, the same as a sort", run, n, len(got), total, ok, min(n, len(want)), len(want))
			}
		}
	}
	if len(x.order) == 0 || x.stale > len(x.order)/8+4096 {
		t.Errorf("order %d entries, %d stale: the index never merged", len(x.order), x.stale)
	}
}

// An id not of FindingID's form turns the index off: the report is then
// read from the findings table, never from a key the index cannot hold.
func TestShadowIndexOddID(t *testing.T) {
	x := newShadowIndex()
	resetFrom(x, map[string]int64{fid(1): 5, fid(2): 7})
	if ids, total, ok := x.page(10); !ok || total != 2 || !slices.Equal(ids, []string{fid(2), fid(1)}) {
		t.Fatalf("page = %v %d %v", ids, total, ok)
	}
	for _, odd := range []string{"legacy-1", "f-0123", "F-" + fid(3)[2:], "f-" + strings.ToUpper(fid(3)[2:])} {
		if _, ok := parseFID(odd); ok {
			t.Errorf("parseFID(%q) accepted it", odd)
		}
	}
	x.update([]shadowChange{{id: "legacy-1", at: 9, open: true}})
	if _, _, ok := x.page(10); ok {
		t.Fatal("the index answered after an id it cannot hold")
	}
	resetFrom(x, map[string]int64{fid(1): 5, "legacy-2": 6})
	if _, _, ok := x.page(10); ok {
		t.Fatal("the index answered after a reset with an id it cannot hold")
	}
	if k, ok := parseFID(fid(4)); !ok || k.String() != fid(4) {
		t.Fatalf("parseFID(%q) = %v, %v", fid(4), k, ok)
	}
}
