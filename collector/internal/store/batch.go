package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/umbrasec/umbra/shared/wire"
)

// Received is a report as the collector received it.
type Received struct {
	At     time.Time
	Report *wire.Report
	// Size is the report's canonical JSON size in bytes (reports.size_bytes).
	Size int
}

// TableWriter turns reports into the rows of one table. Tables are written
// in the order of ReportTables, the report log last, so a report counts as
// stored only once everything it carries is.
type TableWriter struct {
	Table string
	// Insert is "INSERT INTO t (a, b, …)": 18.16 needs the column list.
	Insert string
	// Rows appends the rows of one report, each with the values of Insert's
	// columns in order.
	Rows func(rows [][]any, r Received) [][]any
	// Columns, if set, is used instead of Rows to write a batch: it
	// appends the rows of every report to the insert's columns, one typed
	// slice per column, and returns how many rows it wrote.
	Columns func(b columnBatch, rs []Received) (int, error)
}

// ReportTables are the tables a batch of reports is written to, children
// first and the report log last. Adding a table for a new payload is
// adding a TableWriter before the log.
var ReportTables = []TableWriter{
	{
		Table:  "host_interfaces",
		Insert: "INSERT INTO host_interfaces (agent_id, report_id, collected_at, name, mac, addrs, mtu, up, loopback)",
		Rows:   interfaceRows,
	},
	{
		Table: "inventories",
		Insert: `INSERT INTO inventories (agent_id, report_id, collected_at, received_at,
		host_id, hostname, os_family, platform, platform_version, kernel, arch, virtualization, virtualization_role,
		cpu_model, cpu_cores, cpu_threads, memory_bytes, boot_time, error_sources, error_messages)`,
		Rows: inventoryRows,
	},
	hostDetailsTable,
	hostHardwareTable,
	softwareColumnsTable,
	hostUsersTable,
	hostSessionsTable,
	hostServicesTable,
	hostListenersTable,
	hostSecurityTable,
	discoveriesTable,
	observationsTable,
	networkTable,
	reportLog,
}

var reportLog = TableWriter{
	Table:  "reports",
	Insert: "INSERT INTO reports (report_id, agent_id, kind, schema, agent_version, created_at, received_at, size_bytes)",
	Rows: func(rows [][]any, rc Received) [][]any {
		r := rc.Report
		return append(rows, []any{r.ID, r.AgentID, string(r.Kind), uint16(min(max(r.Schema, 0), 65535)), r.AgentVersion,
			dateTime(r.CreatedAt), dateTime(rc.At), uint64(max(rc.Size, 0))})
	},
}

func interfaceRows(rows [][]any, rc Received) [][]any {
	r := rc.Report
	if r.Kind != wire.KindInventory || r.Inventory == nil {
		return rows
	}
	collected := dateTime(r.Inventory.CollectedAt)
	for _, ifc := range r.Inventory.Interfaces {
		addrs := ifc.Addrs
		if addrs == nil {
			addrs = []string{}
		}
		rows = append(rows, []any{r.AgentID, r.ID, collected, ifc.Name, ifc.MAC, addrs,
			clampUint32(ifc.MTU), boolUint8(ifc.Up), boolUint8(ifc.Loopback)})
	}
	return rows
}

func inventoryRows(rows [][]any, rc Received) [][]any {
	r := rc.Report
	if r.Kind != wire.KindInventory || r.Inventory == nil {
		return rows
	}
	inv := r.Inventory
	errSources := make([]string, 0, len(inv.Errors))
	errMessages := make([]string, 0, len(inv.Errors))
	for _, e := range inv.Errors {
		errSources = append(errSources, e.Source)
		errMessages = append(errMessages, e.Error)
	}
	return append(rows, []any{r.AgentID, r.ID, dateTime(inv.CollectedAt), dateTime(rc.At),
		inv.Host.HostID, inv.Host.Hostname, inv.OS.Family, inv.OS.Platform, inv.OS.Version, inv.OS.Kernel, inv.OS.Arch,
		inv.Host.Virtualization, inv.Host.VirtualizationRole,
		inv.CPU.Model, clampUint32(inv.CPU.Cores), clampUint32(inv.CPU.Threads), inv.Memory.TotalBytes,
		dateTime(inv.Host.BootTime), errSources, errMessages})
}

// TableStat says what one batch insert did.
type TableStat struct {
	Table    string
	Rows     int
	Duration time.Duration
}

// StoredReports returns which of ids are in the report log already.
func (db *DB) StoredReports(ctx context.Context, ids []string) (map[string]bool, error) {
	found := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return found, nil
	}
	rows, err := db.conn.Query(ctx, "SELECT DISTINCT report_id FROM reports WHERE report_id IN (SELECT arrayJoin(?))", ids)
	if err != nil {
		return nil, fmt.Errorf("looking up %d reports: %w", len(ids), classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("looking up reports: %w", err)
		}
		found[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("looking up reports: %w", classify(err))
	}
	return found, nil
}

// ErrInsert is a batch the server refused (not an outage); the caller may
// retry its reports one by one to find the culprit.
var ErrInsert = errors.New("insert refused")

// StoreReports writes a batch of reports with one INSERT per table, the
// report log last. The caller must have removed the reports already
// stored. The big tables (those with a column writer: the software list)
// are written on one connection while the others are written on another,
// so the small inserts' round trips hide behind the big one. A failure
// part-way leaves some tables written: the reports are not in the log, so
// the agents retry, and the retried rows collapse with the first ones
// (every table is a ReplacingMergeTree keyed on the report id, read with
// FINAL or uniqExact).
func (db *DB) StoreReports(ctx context.Context, rs []Received) ([]TableStat, error) {
	children, log := ReportTables[:len(ReportTables)-1], ReportTables[len(ReportTables)-1]
	var big, small []TableWriter
	for _, tw := range children {
		if tw.Columns != nil {
			big = append(big, tw)
		} else {
			small = append(small, tw)
		}
	}
	var bigStats []TableStat
	var bigErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		bigStats, bigErr = db.storeTables(ctx, big, rs)
	}()
	stats, err := db.storeTables(ctx, small, rs)
	<-done
	stats = append(stats, bigStats...)
	if err := errors.Join(bigErr, err); err != nil {
		if errors.Is(bigErr, ErrUnavailable) || errors.Is(err, ErrUnavailable) {
			// An outage, not a refusal: the caller must not retry the
			// reports one by one.
			return stats, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return stats, err
	}
	logStats, err := db.storeTables(ctx, []TableWriter{log}, rs)
	return append(stats, logStats...), err
}

// storeTables writes the batch to tables one after the other.
func (db *DB) storeTables(ctx context.Context, tables []TableWriter, rs []Received) ([]TableStat, error) {
	var stats []TableStat
	var rows [][]any
	for _, tw := range tables {
		start := time.Now()
		var n int
		var err error
		if tw.Columns != nil {
			n, err = db.insertColumns(ctx, tw, rs)
		} else {
			rows = rows[:0]
			for _, rc := range rs {
				rows = tw.Rows(rows, rc)
			}
			n = len(rows)
			if n > 0 {
				err = db.insertRows(ctx, tw.Insert, rows)
			}
		}
		if err != nil {
			return stats, fmt.Errorf("writing %d rows to %s: %w", n, tw.Table, err)
		}
		if n > 0 {
			stats = append(stats, TableStat{Table: tw.Table, Rows: n, Duration: time.Since(start)})
		}
	}
	return stats, nil
}

// insertColumns writes a batch with tw.Columns; it sends nothing when the
// batch has no rows for the table.
func (db *DB) insertColumns(ctx context.Context, tw TableWriter, rs []Received) (int, error) {
	var b driver.Batch
	n, err := tw.Columns(lazyBatch{open: func() (driver.Batch, error) {
		if b == nil {
			nb, err := db.conn.PrepareBatch(ctx, tw.Insert)
			if err != nil {
				return nil, classifyInsert(err)
			}
			b = nb
		}
		return b, nil
	}}, rs)
	if err != nil {
		if b != nil {
			_ = b.Abort()
		}
		var open *openError
		switch {
		case errors.As(err, &open):
			return n, open.err
		case errors.Is(err, ErrInsert) || errors.Is(err, ErrUnavailable) ||
			errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			return n, err // a failed Flush, already classified
		}
		return n, fmt.Errorf("%w: %w", ErrInsert, err)
	}
	if b == nil {
		return 0, nil
	}
	if err := b.Send(); err != nil {
		return n, classifyInsert(err)
	}
	return n, nil
}

// lazyBatch prepares the insert on the first column appended, so a table
// without rows in a batch costs no round trip.
type lazyBatch struct {
	open func() (driver.Batch, error)
}

type openError struct{ err error }

func (e *openError) Error() string { return e.err.Error() }
func (e *openError) Unwrap() error { return e.err }

func (l lazyBatch) Flush() error {
	b, err := l.open()
	if err != nil {
		return &openError{err}
	}
	if err := b.Flush(); err != nil {
		return classifyInsert(err)
	}
	return nil
}

func (l lazyBatch) Column(i int) driver.BatchColumn {
	b, err := l.open()
	if err != nil {
		return failedColumn{&openError{err}}
	}
	return b.Column(i)
}

type failedColumn struct{ err error }

func (f failedColumn) Append(any) error    { return f.err }
func (f failedColumn) AppendRow(any) error { return f.err }

// flushBytes is about how much string data a batch's columns gather before
// they are sent as one block of the insert: the driver's column buffers
// grow by doubling, and a batch of large rows (a device's evidence) would
// otherwise be copied over and over into ever larger buffers. The server
// squashes the blocks of one insert into few parts.
const flushBytes = 1 << 20

func (db *DB) insertRows(ctx context.Context, insert string, rows [][]any) error {
	b, err := db.conn.PrepareBatch(ctx, insert)
	if err != nil {
		return classifyInsert(err)
	}
	pending := 0
	for _, row := range rows {
		if err := b.Append(row...); err != nil {
			_ = b.Abort()
			return fmt.Errorf("%w: %w", ErrInsert, err)
		}
		if pending += rowBytes(row); pending >= flushBytes {
			if err := b.Flush(); err != nil {
				_ = b.Abort()
				return classifyInsert(err)
			}
			pending = 0
		}
	}
	if err := b.Send(); err != nil {
		return classifyInsert(err)
	}
	return nil
}

func classifyInsert(err error) error {
	err = classify(err)
	if errors.Is(err, ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrInsert, err)
}

// rowBytes estimates the bytes of a row's strings, the columns that grow.
func rowBytes(row []any) int {
	n := 0
	for _, v := range row {
		switch v := v.(type) {
		case string:
			n += len(v)
		case []string:
			for _, s := range v {
				n += len(s) + 1
			}
		default:
			n += 8
		}
	}
	return n
}
