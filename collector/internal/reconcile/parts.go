package reconcile

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/cespare/xxhash/v2"
	"github.com/umbrasec/umbra/collector/internal/store"
)

// A device's identifiers and evidence (what `umbra device explain` shows)
// are stored one part a row in device_parts, keyed by a hash of the part's
// JSON (migration 0011). A new observation changes one evidence group and
// the identifiers it names, not the device's whole history: a run writes
// the parts that changed, and a deleted row for each part they replace.
// The live state keeps the hashes of the parts written for each device.

// The kinds of part.
const (
	partIdentifier uint8 = 1
	partEvidence   uint8 = 2
)

const partInsert = `INSERT INTO device_parts (device_id, part, version, deleted, kind, doc)`

// stalePartsDeleted marks deleted, after a build of every device (whose
// rows have version ?), the parts stored before it that it did not write:
// those of devices and evidence that are no more.
const stalePartsDeleted = partInsert + `
SELECT device_id, part, ?, 1, kind, '' FROM device_parts FINAL WHERE deleted = 0 AND version < ?`

// partWriter makes a run's device_parts rows, column by column; its
// buffers are reused from device to device.
type partWriter struct {
	gen  uint64
	buf  []byte
	docs []partDoc
}

// partCols are device_parts rows, column by column (partInsert's order).
type partCols struct {
	ids       []string
	hs, vers  []uint64
	del, kind []uint8
	docs      []string
}

func (c *partCols) add(id string, h, gen uint64, deleted, kind uint8, doc string) {
	c.ids, c.hs, c.vers = append(c.ids, id), append(c.hs, h), append(c.vers, gen)
	c.del, c.kind, c.docs = append(c.del, deleted), append(c.kind, kind), append(c.docs, doc)
}

// insert writes the rows.
func (c *partCols) insert(ctx context.Context, db *store.DB) error {
	return db.InsertColumns(ctx, partInsert, len(c.ids), c.ids, c.hs, c.vers, c.del, c.kind, c.docs)
}

// partDoc is one part of the device at hand: its JSON is buf[lo:hi].
type partDoc struct {
	h      uint64
	kind   uint8
	lo, hi int
}

// device adds to rows what brings the parts stored for d from was
// (their hashes, sorted) to d's own; it returns d's hashes, sorted: was
// itself when nothing changed. A part encoding/json refuses (a time it
// cannot write, which no ClickHouse DateTime is) is not stored.
func (w *partWriter) device(rows *partCols, d *Device, was []uint64) []uint64 {
	w.buf, w.docs = w.buf[:0], w.docs[:0]
	add := func(kind uint8, lo int, ok bool) {
		if ok {
			w.docs = append(w.docs, partDoc{xxhash.Sum64(w.buf[lo:]), kind, lo, len(w.buf)})
		}
	}
	for i := range d.Identifiers {
		lo, ok := len(w.buf), false
		w.buf, ok = identifierJSON(w.buf, &d.Identifiers[i])
		add(partIdentifier, lo, ok)
	}
	for i := range d.Evidence {
		lo, ok := len(w.buf), false
		w.buf, ok = evidenceJSON(w.buf, &d.Evidence[i])
		add(partEvidence, lo, ok)
	}
	slices.SortFunc(w.docs, func(x, y partDoc) int { return cmp.Compare(x.h, y.h) })
	w.docs = slices.CompactFunc(w.docs, func(x, y partDoc) bool { return x.h == y.h })
	changed := len(was) != len(w.docs)
	i, j := 0, 0
	for i < len(w.docs) || j < len(was) {
		switch {
		case j == len(was) || i < len(w.docs) && w.docs[i].h < was[j]:
			p := w.docs[i]
			rows.add(d.ID, p.h, w.gen, 0, p.kind, string(w.buf[p.lo:p.hi]))
			i, changed = i+1, true
		case i == len(w.docs) || was[j] < w.docs[i].h:
			rows.add(d.ID, was[j], w.gen, 1, 0, "")
			j, changed = j+1, true
		default:
			i, j = i+1, j+1
		}
	}
	if !changed {
		return was
	}
	now := make([]uint64, len(w.docs))
	for k := range w.docs {
		now[k] = w.docs[k].h
	}
	return now
}

// partRows are the device_parts rows of devices that changed; l.parts
// records what they store now.
func (l *live) partRows(w *partWriter, ds []Device) *partCols {
	rows := &partCols{}
	for i := range ds {
		d := &ds[i]
		l.parts[d.ID] = w.device(rows, d, l.parts[d.ID])
	}
	return rows
}

// goneParts are the rows that delete the parts of devices gone (merged
// into others).
func (l *live) goneParts(gen uint64, gone []string) *partCols {
	rows := &partCols{}
	for _, id := range gone {
		for _, h := range l.parts[id] {
			rows.add(id, h, gen, 1, 0, "")
		}
		delete(l.parts, id)
	}
	return rows
}

// withParts fills in the identifiers and evidence of devs (by id) from
// device_parts; where selects the devices (after "WHERE deleted = 0"). They
// come in the order a run builds them: identifiers by rank and id,
// evidence by first sighting and what it says.
func (e *Engine) withParts(ctx context.Context, devs map[string]*Device, where string, args ...any) error {
	err := e.db.QueryEach(ctx, "device parts", "SELECT device_id, kind, doc FROM device_parts FINAL WHERE deleted = 0"+where, func(rows driver.Rows) error {
		var id, doc string
		var kind uint8
		if err := rows.Scan(&id, &kind, &doc); err != nil {
			return err
		}
		d := devs[id]
		if d == nil {
			return nil
		}
		switch kind {
		case partIdentifier:
			var x Identifier
			if err := json.Unmarshal([]byte(doc), &x); err != nil {
				return fmt.Errorf("device %s identifier: %w", id, err)
			}
			d.Identifiers = append(d.Identifiers, x)
		case partEvidence:
			var x Evidence
			if err := json.Unmarshal([]byte(doc), &x); err != nil {
				return fmt.Errorf("device %s evidence: %w", id, err)
			}
			d.Evidence = append(d.Evidence, x)
		}
		return nil
	}, args...)
	if err != nil {
		return err
	}
	var evs evSorter
	for _, d := range devs {
		slices.SortFunc(d.Identifiers, compareIdentifiers)
		evs.reset()
		for i := range d.Evidence {
			evs.add(&d.Evidence[i])
		}
		if ev := evs.sorted(); ev != nil {
			d.Evidence = ev
		}
	}
	return nil
}
