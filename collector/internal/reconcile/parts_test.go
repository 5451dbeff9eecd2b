package reconcile

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestPartWriterDiff: over random changes of a device (evidence counted
// on, identifiers added and dropped, evidence refused), the rows each run
// writes, applied to what was stored, leave exactly the device's parts;
// a device that did not change writes nothing and keeps its hashes.
func TestPartWriterDiff(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	stored := map[uint64]string{} // part -> doc, as ClickHouse would hold them after FINAL
	var was []uint64
	d := Device{ID: "dev-1"}
	for gen := uint64(1); gen <= 500; gen++ {
		switch rng.IntN(5) {
		case 0:
			d.Identifiers = append(d.Identifiers, Identifier{ID: "mac:" + string(rune('a'+rng.IntN(26))), FirstSeen: t0, LastSeen: t0.Add(time.Duration(gen) * time.Second)})
		case 1:
			if len(d.Identifiers) > 0 {
				d.Identifiers = slices.Delete(d.Identifiers, 0, 1)
			}
		case 2:
			d.Evidence = append(d.Evidence, Evidence{Tied: []string{"mac:x"}, Outcome: "seen", Method: "arp", Observer: "o", FirstSeen: t0, LastSeen: t0, Count: int(gen)})
		case 3:
			if len(d.Evidence) > 0 {
				e := &d.Evidence[rng.IntN(len(d.Evidence))]
				e.Count++
				e.LastSeen = e.LastSeen.Add(time.Minute)
			}
		} // 4: unchanged
		var w partWriter
		w.gen = gen
		var rows partCols
		now := w.device(&rows, &d, was)
		for i := range rows.ids {
			if rows.ids[i] != d.ID || rows.vers[i] != gen {
				t.Fatalf("gen %d: row %d is %s at %d", gen, i, rows.ids[i], rows.vers[i])
			}
			if rows.del[i] == 1 {
				if _, ok := stored[rows.hs[i]]; !ok {
					t.Fatalf("gen %d: deletes part %x, which is not stored", gen, rows.hs[i])
				}
				delete(stored, rows.hs[i])
				continue
			}
			if _, ok := stored[rows.hs[i]]; ok {
				t.Fatalf("gen %d: writes part %x again", gen, rows.hs[i])
			}
			stored[rows.hs[i]] = rows.docs[i]
		}
		want := map[string]bool{}
		for i := range d.Identifiers {
			b, _ := identifierJSON(nil, &d.Identifiers[i])
			want[string(b)] = true
		}
		for i := range d.Evidence {
			b, _ := evidenceJSON(nil, &d.Evidence[i])
			want[string(b)] = true
		}
		got := map[string]bool{}
		for _, doc := range stored {
			got[string(doc)] = true
		}
		if len(got) != len(want) || len(stored) != len(now) {
			t.Fatalf("gen %d: stored %d parts (%d hashes kept), want %d", gen, len(stored), len(now), len(want))
		}
		for doc := range want {
			if !got[doc] {
				t.Fatalf("gen %d: part %s is not stored", gen, doc)
			}
		}
		if len(rows.ids) == 0 && len(now) > 0 && &now[0] != &was[0] {
			t.Fatalf("gen %d: nothing changed, but the hashes were made again", gen)
		}
		if !slices.IsSorted(now) {
			t.Fatalf("gen %d: hashes %x not sorted", gen, now)
		}
		was = now
	}
}
