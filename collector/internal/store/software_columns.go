package store

import (
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/umbrasec/umbra/shared/wire"
)

// columnBatch is the part of a driver batch a column writer uses.
type columnBatch interface {
	Column(int) driver.BatchColumn
	// Flush sends the rows appended so far as one block of the insert
	// and empties the columns, keeping their memory.
	Flush() error
}

// columnChunk is how many rows a column writer appends before it sends
// them: the driver's column buffers then stay small and are reused instead
// of growing (and being copied) to the size of the whole batch. ClickHouse
// still writes the insert as one part.
const columnChunk = 16384

// softwareColumnsTable writes host_software, the largest table by far (a
// few hundred rows per inventory), column by column: one typed slice per
// column for the whole batch, appended in one call each, instead of a
// []any per row that the driver converts value by value. Its rows are
// hostSoftwareTable's, in the same column order.
var softwareColumnsTable = TableWriter{
	Table:   hostSoftwareTable.Table,
	Insert:  hostSoftwareTable.Insert,
	Rows:    hostSoftwareTable.Rows,
	Columns: softwareColumns,
}

// swChunk is one chunk of host_software's columns, reused from chunk to
// chunk and batch to batch (the driver copies what is appended): a burst's
// batches then build their rows in memory already in use, not in fresh
// pages.
type swChunk struct {
	agentID, reportID, op, source, keyID, arch, scope []string
	name, packageID, version, publisher, location     []string
	collectedAt, installDate                          []time.Time
	sizeBytes                                         []uint64
}

var swChunks = sync.Pool{New: func() any {
	return &swChunk{
		agentID: mk[string](columnChunk), reportID: mk[string](columnChunk), op: mk[string](columnChunk), source: mk[string](columnChunk),
		keyID: mk[string](columnChunk), arch: mk[string](columnChunk), scope: mk[string](columnChunk), name: mk[string](columnChunk),
		packageID: mk[string](columnChunk), version: mk[string](columnChunk), publisher: mk[string](columnChunk), location: mk[string](columnChunk),
		collectedAt: mk[time.Time](columnChunk), installDate: mk[time.Time](columnChunk), sizeBytes: mk[uint64](columnChunk),
	}
}}

func (c *swChunk) add(r *wire.Report, collected time.Time, o string, k wire.PackageKey, p *wire.Package) {
	c.agentID, c.reportID, c.collectedAt, c.op = append(c.agentID, r.AgentID), append(c.reportID, r.ID), append(c.collectedAt, collected), append(c.op, o)
	c.source, c.keyID, c.arch, c.scope = append(c.source, k.Source), append(c.keyID, k.ID), append(c.arch, k.Arch), append(c.scope, k.Scope)
	if p == nil {
		c.name, c.packageID, c.version, c.publisher = append(c.name, ""), append(c.packageID, ""), append(c.version, ""), append(c.publisher, "")
		c.installDate, c.sizeBytes, c.location = append(c.installDate, minDateTime), append(c.sizeBytes, 0), append(c.location, "")
		return
	}
	c.name, c.packageID, c.version, c.publisher = append(c.name, p.Name), append(c.packageID, p.ID), append(c.version, p.Version), append(c.publisher, p.Publisher)
	c.installDate, c.sizeBytes, c.location = append(c.installDate, dateTime(p.InstallDate)), append(c.sizeBytes, p.SizeBytes), append(c.location, p.Location)
}

// send appends the chunk to the batch's columns, sends them as one block,
// and empties the chunk (dropping its references to the reports).
func (c *swChunk) send(b columnBatch) error {
	for i, col := range []any{c.agentID, c.reportID, c.collectedAt, c.op, c.source, c.keyID, c.arch, c.scope, c.name, c.packageID,
		c.version, c.publisher, c.installDate, c.sizeBytes, c.location} {
		if err := b.Column(i).Append(col); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	c.reset()
	return b.Flush()
}

func (c *swChunk) reset() {
	for _, s := range []*[]string{&c.agentID, &c.reportID, &c.op, &c.source, &c.keyID, &c.arch, &c.scope, &c.name, &c.packageID,
		&c.version, &c.publisher, &c.location} {
		clear(*s)
		*s = (*s)[:0]
	}
	c.collectedAt, c.installDate, c.sizeBytes = c.collectedAt[:0], c.installDate[:0], c.sizeBytes[:0]
}

func softwareColumns(b columnBatch, rs []Received) (n int, err error) {
	c := swChunks.Get().(*swChunk)
	defer func() {
		c.reset()
		swChunks.Put(c)
	}()
	row := func(r *wire.Report, collected time.Time, o string, k wire.PackageKey, p *wire.Package) error {
		c.add(r, collected, o, k, p)
		n++
		if len(c.agentID) == columnChunk {
			return c.send(b)
		}
		return nil
	}
	for _, rc := range rs {
		r := rc.Report
		if !isInventory(r) {
			continue
		}
		collected := dateTime(r.Inventory.CollectedAt)
		d := r.Inventory.SoftwareDelta
		if d == nil {
			for i := range r.Inventory.Software {
				p := &r.Inventory.Software[i]
				if err := row(r, collected, opFull, p.Key(), p); err != nil {
					return 0, err
				}
			}
			continue
		}
		for i := range d.Added {
			p := &d.Added[i]
			if err := row(r, collected, opAdd, p.Key(), p); err != nil {
				return 0, err
			}
		}
		for i := range d.Changed {
			p := &d.Changed[i]
			if err := row(r, collected, opChange, p.Key(), p); err != nil {
				return 0, err
			}
		}
		for _, k := range d.Removed {
			if err := row(r, collected, opRemove, k, nil); err != nil {
				return 0, err
			}
		}
	}
	if len(c.agentID) > 0 {
		if err := c.send(b); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func mk[T any](n int) []T { return make([]T, 0, n) }
