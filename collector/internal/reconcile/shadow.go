package reconcile

import (
	"bytes"
	"slices"
	"sync"
)

// shadowKey places an open unregistered-device finding in the shadow
// report: seen last first, then by id.
type shadowKey struct {
	at int64 // last seen, Unix seconds (what the findings table keeps)
	id fkey  // ordered as the ids are: FindingID's hex is lower case
}

func shadowCmp(a, b shadowKey) int {
	switch {
	case a.at > b.at:
		return -1
	case a.at < b.at:
		return 1
	}
	return bytes.Compare(a.id[:], b.id[:])
}

// shadowIndex keeps the open unregistered-device findings in the order of
// the shadow report, so its first page costs the page, not the report. A
// run changes what it touched: the new keys go to a small sorted list
// (extra) and the replaced ones stay in order as stale entries, skipped
// on reading; when extra or the stale entries grow past a fraction of
// order, both merge into order in one linear pass. It is safe for
// concurrent use: pages are read while a run holds the rest of the state.
// Its keys hold no pointers, so the garbage collector does not scan them;
// a finding id not of FindingID's form (none that Umbra writes) turns it
// off, and the report is then read from the findings table.
type shadowIndex struct {
	mu    sync.Mutex
	cur   map[fkey]int64 // open finding id -> last seen: the truth
	order []shadowKey    // sorted; may hold stale or repeated entries
	extra []shadowKey    // sorted; added since the last merge
	stale int            // entries of order and extra that cur no longer holds
	ready bool           // reset has filled it, with ids of FindingID's form

	// The first rows of the report as stored, and every current
	// acknowledgement, so its first page needs no query.
	rows map[string]StoredFinding
	acks map[string]*Ack
}

// shadowRows is how many of the report's first rows the index keeps whole.
const shadowRows = 1000

func (x *shadowIndex) setRows(rows map[string]StoredFinding, acks map[string]*Ack) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.rows, x.acks = rows, acks
}

// setAck records an acknowledgement made since the last run.
func (x *shadowIndex) setAck(id string, a *Ack) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.acks != nil {
		x.acks[id] = a
	}
}

// rowsOf returns the stored rows of ids with their acknowledgements, if
// it holds them all.
func (x *shadowIndex) rowsOf(ids []string) (map[string]*StoredFinding, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.acks == nil {
		return nil, false
	}
	out := make(map[string]*StoredFinding, len(ids))
	for _, id := range ids {
		f, ok := x.rows[id]
		if !ok {
			return nil, false
		}
		f.Ack = x.acks[id]
		out[id] = &f
	}
	return out, true
}

func newShadowIndex() *shadowIndex { return &shadowIndex{cur: map[fkey]int64{}} }

// reset replaces the whole index (after a rebuild) with the open findings
// of cur; ready is false when one of them has an id the index cannot hold.
func (x *shadowIndex) reset(cur map[fkey]int64, ready bool) {
	order := make([]shadowKey, 0, len(cur))
	for k, at := range cur {
		order = append(order, shadowKey{at, k})
	}
	slices.SortFunc(order, shadowCmp)
	x.mu.Lock()
	defer x.mu.Unlock()
	x.cur, x.order, x.extra, x.stale, x.ready = cur, order, nil, 0, ready
}

// shadowChange is the new state of one finding: open at a last-seen time,
// or not open (or not an unregistered-device finding any more).
type shadowChange struct {
	id   string
	at   int64
	open bool
}

// update applies the changes of one run.
func (x *shadowIndex) update(cs []shadowChange) {
	if len(cs) == 0 {
		return
	}
	var add []shadowKey
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, c := range cs {
		k, ok := parseFID(c.id)
		if !ok {
			x.ready = false
			continue
		}
		old, had := x.cur[k]
		if had && c.open && old == c.at {
			continue
		}
		if had {
			x.stale++
			delete(x.cur, k)
		}
		if c.open {
			x.cur[k] = c.at
			add = append(add, shadowKey{c.at, k})
		}
	}
	if len(add) == 0 {
		return
	}
	slices.SortFunc(add, shadowCmp)
	x.extra = mergeKeys(x.extra, add, nil)
	if n := len(x.order); len(x.extra) > n/16+4096 || x.stale > n/8+4096 {
		x.order = mergeKeys(x.order, x.extra, x.cur)
		x.extra, x.stale = nil, 0
	}
}

// mergeKeys merges two sorted lists; with cur it keeps only the entries
// cur holds, once each.
func mergeKeys(a, b []shadowKey, cur map[fkey]int64) []shadowKey {
	out := make([]shadowKey, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var k shadowKey
		if j >= len(b) || i < len(a) && shadowCmp(a[i], b[j]) <= 0 {
			k, i = a[i], i+1
		} else {
			k, j = b[j], j+1
		}
		if cur != nil {
			if at, ok := cur[k.id]; !ok || at != k.at || len(out) > 0 && out[len(out)-1] == k {
				continue
			}
		}
		out = append(out, k)
	}
	return out
}

// page returns the ids of the first n findings of the report and how many
// there are; ok is false before the first reset.
func (x *shadowIndex) page(n int) (ids []string, total uint64, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.ready {
		return nil, 0, false
	}
	ids = make([]string, 0, min(n, len(x.cur)))
	var last shadowKey
	i, j := 0, 0
	for len(ids) < n && (i < len(x.order) || j < len(x.extra)) {
		var k shadowKey
		if j >= len(x.extra) || i < len(x.order) && shadowCmp(x.order[i], x.extra[j]) <= 0 {
			k, i = x.order[i], i+1
		} else {
			k, j = x.extra[j], j+1
		}
		if at, ok := x.cur[k.id]; !ok || at != k.at || len(ids) > 0 && k == last {
			continue
		}
		ids, last = append(ids, k.id.String()), k
	}
	return ids, uint64(len(x.cur)), true
}
