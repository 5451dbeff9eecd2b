package store

import (
	"context"
	"fmt"
	"reflect"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// QueryEach runs a query and calls scan for every row; what names the data
// in errors. Packages that own their tables (registry, reconcile) read with
// it; the query text must be a constant, values bound with ?.
func (db *DB) QueryEach(ctx context.Context, what, query string, scan func(driver.Rows) error, args ...any) error {
	return db.each(ctx, what, query, scan, args...)
}

// InsertRows writes rows with one batch. insert is "INSERT INTO t (a, b)":
// 18.16 needs the explicit column list.
func (db *DB) InsertRows(ctx context.Context, insert string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	if err := db.insertRows(ctx, insert, rows); err != nil {
		return fmt.Errorf("writing %d rows: %w", len(rows), err)
	}
	return nil
}

// InsertColumns writes one batch given column by column: each of cols is
// a typed slice ([]string, []uint64, []uint8, …) of n values, the
// insert's columns in order, appended whole instead of a []any per row
// converted value by value. They are sent columnChunk rows a block: one
// block of a build's millions of rows would pass ClickHouse's memory limit
// for a query.
func (db *DB) InsertColumns(ctx context.Context, insert string, n int, cols ...any) error {
	if n == 0 {
		return nil
	}
	vs := make([]reflect.Value, len(cols))
	for i, c := range cols {
		if vs[i] = reflect.ValueOf(c); vs[i].Kind() != reflect.Slice || vs[i].Len() != n {
			return fmt.Errorf("writing %d rows: %w: column %d is not a slice of %d values", n, ErrInsert, i, n)
		}
	}
	b, err := db.conn.PrepareBatch(ctx, insert)
	if err != nil {
		return fmt.Errorf("writing %d rows: %w", n, classifyInsert(err))
	}
	for lo := 0; lo < n; lo += columnChunk {
		hi := min(n, lo+columnChunk)
		for i, v := range vs {
			c := cols[i]
			if lo > 0 || hi < n {
				c = v.Slice(lo, hi).Interface()
			}
			if err := b.Column(i).Append(c); err != nil {
				_ = b.Abort()
				return fmt.Errorf("writing %d rows: %w: column %d: %w", n, ErrInsert, i, err)
			}
		}
		if hi < n {
			if err := b.Flush(); err != nil {
				_ = b.Abort()
				return fmt.Errorf("writing %d rows: %w", n, classifyInsert(err))
			}
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("writing %d rows: %w", n, classifyInsert(err))
	}
	return nil
}

// SoftwareInstall is one package (name and source) across the fleet with
// the agents whose current software has it.
type SoftwareInstall struct {
	Name       string
	Source     string
	Publishers []string
	Versions   []string
	// Agents are up to MaxSoftwareAgents of the agents that have it.
	Agents   []string
	Installs uint64
}

// MaxSoftwareAgents bounds SoftwareInstall.Agents.
const MaxSoftwareAgents = 100

// SoftwareInstalls lists every package installed across the fleet, each
// agent counted by its current software, with the agents that have it.
func (db *DB) SoftwareInstalls(ctx context.Context) ([]SoftwareInstall, error) {
	q := `
SELECT c_name, source, groupUniqArray(c_publisher), groupUniqArray(c_version),
    arraySlice(arraySort(groupUniqArray(agent_id)), 1, ?), uniqExact(agent_id)
FROM (` + currentSoftwareQuery + `)
GROUP BY c_name, source
ORDER BY c_name, source`
	var out []SoftwareInstall
	err := db.each(ctx, "software installs", q, func(rows driver.Rows) error {
		var s SoftwareInstall
		if err := rows.Scan(&s.Name, &s.Source, &s.Publishers, &s.Versions, &s.Agents, &s.Installs); err != nil {
			return err
		}
		s.Publishers, s.Versions = withoutEmpty(s.Publishers), withoutEmpty(s.Versions)
		out = append(out, s)
		return nil
	}, uint64(MaxSoftwareAgents), "", "", "", "")
	return out, err
}

// Spilling returns ctx for a query whose GROUP BY or ORDER BY may outgrow
// the server's memory limit for a query: past bytes, each goes on
// disk instead of failing.
func Spilling(ctx context.Context, bytes int) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"max_bytes_before_external_group_by": bytes,
		"max_bytes_before_external_sort":     bytes,
	}))
}
