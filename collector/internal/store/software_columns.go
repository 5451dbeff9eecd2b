package store

import (
	"fmt"
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

func softwareColumns(b columnBatch, rs []Received) (int, error) {
	n := 0
	for _, rc := range rs {
		r := rc.Report
		if !isInventory(r) {
			continue
		}
		if d := r.Inventory.SoftwareDelta; d != nil {
			n += len(d.Added) + len(d.Changed) + len(d.Removed)
		} else {
			n += len(r.Inventory.Software)
		}
	}
	if n == 0 {
		return 0, nil
	}
	var (
		agentID, reportID, op, source, keyID, arch, scope = mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
		name, packageID, version, publisher, location     = mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
		collectedAt, installDate                          = mk[time.Time](n), mk[time.Time](n)
		sizeBytes                                         = mk[uint64](n)
	)
	row := func(r *wire.Report, collected time.Time, o string, k wire.PackageKey, p *wire.Package) {
		agentID, reportID, collectedAt, op = append(agentID, r.AgentID), append(reportID, r.ID), append(collectedAt, collected), append(op, o)
		source, keyID, arch, scope = append(source, k.Source), append(keyID, k.ID), append(arch, k.Arch), append(scope, k.Scope)
		if p == nil {
			name, packageID, version, publisher = append(name, ""), append(packageID, ""), append(version, ""), append(publisher, "")
			installDate, sizeBytes, location = append(installDate, minDateTime), append(sizeBytes, 0), append(location, "")
			return
		}
		name, packageID, version, publisher = append(name, p.Name), append(packageID, p.ID), append(version, p.Version), append(publisher, p.Publisher)
		installDate, sizeBytes, location = append(installDate, dateTime(p.InstallDate)), append(sizeBytes, p.SizeBytes), append(location, p.Location)
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
				row(r, collected, opFull, p.Key(), p)
			}
			continue
		}
		for i := range d.Added {
			p := &d.Added[i]
			row(r, collected, opAdd, p.Key(), p)
		}
		for i := range d.Changed {
			p := &d.Changed[i]
			row(r, collected, opChange, p.Key(), p)
		}
		for _, k := range d.Removed {
			row(r, collected, opRemove, k, nil)
		}
	}
	for off := 0; off < n; off += columnChunk {
		end := min(off+columnChunk, n)
		for i, col := range []any{agentID[off:end], reportID[off:end], collectedAt[off:end], op[off:end],
			source[off:end], keyID[off:end], arch[off:end], scope[off:end], name[off:end], packageID[off:end],
			version[off:end], publisher[off:end], installDate[off:end], sizeBytes[off:end], location[off:end]} {
			if err := b.Column(i).Append(col); err != nil {
				return 0, fmt.Errorf("column %d: %w", i, err)
			}
		}
		if err := b.Flush(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func mk[T any](n int) []T { return make([]T, 0, n) }
