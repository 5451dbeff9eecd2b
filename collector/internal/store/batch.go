package store

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	hostSoftwareTable,
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

// StoreReports writes a batch of reports with one INSERT per table, in the
// order of ReportTables. The caller must have removed the reports already
// stored. A failure part-way leaves some tables written: the reports are
// not in the log, so the agents retry, and the retried rows collapse with
// the first ones (every table is a ReplacingMergeTree keyed on the report
// id, read with FINAL or uniqExact).
func (db *DB) StoreReports(ctx context.Context, rs []Received) ([]TableStat, error) {
	var stats []TableStat
	var rows [][]any
	for _, tw := range ReportTables {
		rows = rows[:0]
		for _, rc := range rs {
			rows = tw.Rows(rows, rc)
		}
		if len(rows) == 0 {
			continue
		}
		start := time.Now()
		if err := db.insertRows(ctx, tw.Insert, rows); err != nil {
			return stats, fmt.Errorf("writing %d rows to %s: %w", len(rows), tw.Table, err)
		}
		stats = append(stats, TableStat{Table: tw.Table, Rows: len(rows), Duration: time.Since(start)})
	}
	return stats, nil
}

func (db *DB) insertRows(ctx context.Context, insert string, rows [][]any) error {
	b, err := db.conn.PrepareBatch(ctx, insert)
	if err != nil {
		return classifyInsert(err)
	}
	for _, row := range rows {
		if err := b.Append(row...); err != nil {
			_ = b.Abort()
			return fmt.Errorf("%w: %w", ErrInsert, err)
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
