package reconcile

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// bruteShadowPage is the first page of the report by sorting everything.
func bruteShadowPage(cur map[string]int64, n int) []string {
	var ks []shadowKey
	for id, at := range cur {
		ks = append(ks, shadowKey{at, id})
	}
	slices.SortFunc(ks, shadowCmp)
	out := []string{}
	for _, k := range ks[:min(n, len(ks))] {
		out = append(out, k.id)
	}
	return out
}

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
		want[fmt.Sprint("f-", i)] = int64(rng.IntN(500))
	}
	x.reset(maps.Clone(want))
	for run := range 200 {
		var cs []shadowChange
		for range rng.IntN(400) {
			id := fmt.Sprint("f-", rng.IntN(5000))
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
