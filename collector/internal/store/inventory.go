package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// DateTime columns hold seconds from 1970 to 2106; times outside are clamped
// so that a wild agent clock cannot make an insert fail or wrap around.
var (
	minDateTime = time.Unix(0, 0).UTC()
	maxDateTime = time.Date(2105, 12, 31, 23, 59, 59, 0, time.UTC)
)

func dateTime(t time.Time) time.Time {
	switch {
	case t.Before(minDateTime):
		return minDateTime
	case t.After(maxDateTime):
		return maxDateTime
	}
	return t.UTC().Truncate(time.Second)
}

func clampUint32(n int) uint32 {
	switch {
	case n < 0:
		return 0
	case uint64(n) > uint64(^uint32(0)):
		return ^uint32(0)
	}
	return uint32(n)
}

func boolUint8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// ReportExists reports whether a report with this ID has been stored.
func (db *DB) ReportExists(ctx context.Context, reportID string) (bool, error) {
	var n uint64
	if err := db.conn.QueryRow(ctx, "SELECT count() FROM reports FINAL WHERE report_id = ?", reportID).Scan(&n); err != nil {
		return false, fmt.Errorf("looking up report %s: %w", reportID, classify(err))
	}
	return n > 0, nil
}

// StoreInventory stores an inventory report received at received. It returns
// duplicate=true, and writes nothing, when the report's ID was stored
// before.
//
// The check and the inserts are not atomic: two copies of one report that
// arrive at the same instant may both be written. Every table is a
// ReplacingMergeTree keyed on the report ID and every read collapses
// duplicates, so such a pair still counts once.
func (db *DB) StoreInventory(ctx context.Context, received time.Time, r *wire.Report) (duplicate bool, err error) {
	if r == nil || r.Kind != wire.KindInventory || r.Inventory == nil {
		return false, errors.New("storing inventory: the report carries no inventory")
	}
	dup, err := db.ReportExists(ctx, r.ID)
	if err != nil {
		return false, err
	}
	if dup {
		return true, nil
	}
	inv := r.Inventory
	received = dateTime(received)
	collected := dateTime(inv.CollectedAt)

	// Children first, the report log last: a report is a duplicate only
	// once everything it carries is stored, so a failure half-way makes the
	// agent retry and the retry completes the write.
	if len(inv.Interfaces) > 0 {
		b, err := db.conn.PrepareBatch(ctx, "INSERT INTO host_interfaces (agent_id, report_id, collected_at, name, mac, addrs, mtu, up, loopback)")
		if err != nil {
			return false, fmt.Errorf("storing interfaces of report %s: %w", r.ID, classify(err))
		}
		for _, ifc := range inv.Interfaces {
			addrs := ifc.Addrs
			if addrs == nil {
				addrs = []string{}
			}
			if err := b.Append(r.AgentID, r.ID, collected, ifc.Name, ifc.MAC, addrs,
				clampUint32(ifc.MTU), boolUint8(ifc.Up), boolUint8(ifc.Loopback)); err != nil {
				_ = b.Abort()
				return false, fmt.Errorf("storing interfaces of report %s: %w", r.ID, err)
			}
		}
		if err := b.Send(); err != nil {
			return false, fmt.Errorf("storing interfaces of report %s: %w", r.ID, classify(err))
		}
	}

	errSources := make([]string, 0, len(inv.Errors))
	errMessages := make([]string, 0, len(inv.Errors))
	for _, e := range inv.Errors {
		errSources = append(errSources, e.Source)
		errMessages = append(errMessages, e.Error)
	}
	b, err := db.conn.PrepareBatch(ctx, `INSERT INTO inventories (agent_id, report_id, collected_at, received_at,
		host_id, hostname, os_family, platform, platform_version, kernel, arch, virtualization, virtualization_role,
		cpu_model, cpu_cores, cpu_threads, memory_bytes, boot_time, error_sources, error_messages)`)
	if err != nil {
		return false, fmt.Errorf("storing inventory of report %s: %w", r.ID, classify(err))
	}
	if err := b.Append(r.AgentID, r.ID, collected, received,
		inv.Host.HostID, inv.Host.Hostname, inv.OS.Family, inv.OS.Platform, inv.OS.Version, inv.OS.Kernel, inv.OS.Arch,
		inv.Host.Virtualization, inv.Host.VirtualizationRole,
		inv.CPU.Model, clampUint32(inv.CPU.Cores), clampUint32(inv.CPU.Threads), inv.Memory.TotalBytes,
		dateTime(inv.Host.BootTime), errSources, errMessages); err != nil {
		_ = b.Abort()
		return false, fmt.Errorf("storing inventory of report %s: %w", r.ID, err)
	}
	if err := b.Send(); err != nil {
		return false, fmt.Errorf("storing inventory of report %s: %w", r.ID, classify(err))
	}

	if err := db.logReport(ctx, received, r); err != nil {
		return false, err
	}
	return false, nil
}

// logReport records r in the raw report log. size_bytes is the size of the
// report's canonical JSON encoding, which does not depend on how the agent
// spaced or compressed it.
func (db *DB) logReport(ctx context.Context, received time.Time, r *wire.Report) error {
	enc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("logging report %s: %w", r.ID, err)
	}
	sizeBytes := len(enc)
	b, err := db.conn.PrepareBatch(ctx, "INSERT INTO reports (report_id, agent_id, kind, schema, agent_version, created_at, received_at, size_bytes)")
	if err != nil {
		return fmt.Errorf("logging report %s: %w", r.ID, classify(err))
	}
	if err := b.Append(r.ID, r.AgentID, string(r.Kind), uint16(min(max(r.Schema, 0), 65535)), r.AgentVersion,
		dateTime(r.CreatedAt), received, uint64(sizeBytes)); err != nil {
		_ = b.Abort()
		return fmt.Errorf("logging report %s: %w", r.ID, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("logging report %s: %w", r.ID, classify(err))
	}
	return nil
}

// Host is one agent's host as its latest inventory describes it.
type Host struct {
	AgentID            string
	ReportID           string // of the latest inventory
	HostID             string
	Hostname           string
	OSFamily           string
	Platform           string
	PlatformVersion    string
	Kernel             string
	Arch               string
	Virtualization     string
	VirtualizationRole string
	CPUModel           string
	CPUCores           uint32
	CPUThreads         uint32
	MemoryBytes        uint64
	MACs               []string
	Addresses          []string
	CollectedAt        time.Time
	FirstSeen          time.Time
	LastSeen           time.Time
	Reports            uint64
}

// The latest inventory of each agent is the one with the greatest
// (collected_at, received_at, report_id): the tuple breaks ties the same way
// for every column. FINAL collapses a report stored twice; it can, because
// the partition key derives from the report itself. The interfaces of the
// latest reports join on (agent_id, report_id); one JOIN per query level
// keeps 18.16 happy.
const listHostsQuery = `
SELECT
    agent_id, l_report_id, l_host_id, l_hostname, l_os_family, l_platform, l_platform_version,
    l_kernel, l_arch, l_virtualization, l_virtualization_role, l_cpu_model, l_cpu_cores, l_cpu_threads,
    l_memory_bytes, l_collected_at, first_seen, last_seen, report_count, macs, addresses
FROM (
    SELECT
        agent_id,
        argMax(report_id, (collected_at, received_at, report_id)) AS l_report_id,
        argMax(host_id, (collected_at, received_at, report_id)) AS l_host_id,
        argMax(hostname, (collected_at, received_at, report_id)) AS l_hostname,
        argMax(os_family, (collected_at, received_at, report_id)) AS l_os_family,
        argMax(platform, (collected_at, received_at, report_id)) AS l_platform,
        argMax(platform_version, (collected_at, received_at, report_id)) AS l_platform_version,
        argMax(kernel, (collected_at, received_at, report_id)) AS l_kernel,
        argMax(arch, (collected_at, received_at, report_id)) AS l_arch,
        argMax(virtualization, (collected_at, received_at, report_id)) AS l_virtualization,
        argMax(virtualization_role, (collected_at, received_at, report_id)) AS l_virtualization_role,
        argMax(cpu_model, (collected_at, received_at, report_id)) AS l_cpu_model,
        argMax(cpu_cores, (collected_at, received_at, report_id)) AS l_cpu_cores,
        argMax(cpu_threads, (collected_at, received_at, report_id)) AS l_cpu_threads,
        argMax(memory_bytes, (collected_at, received_at, report_id)) AS l_memory_bytes,
        max(collected_at) AS l_collected_at,
        min(received_at) AS first_seen,
        max(received_at) AS last_seen,
        uniqExact(report_id) AS report_count
    FROM inventories FINAL
    GROUP BY agent_id
)
ANY LEFT JOIN (
    SELECT
        agent_id,
        report_id AS l_report_id,
        groupUniqArrayIf(mac, mac != '') AS macs,
        groupUniqArrayArrayIf(addrs, loopback = 0) AS addresses
    FROM host_interfaces FINAL
    WHERE (agent_id, report_id) IN (
        SELECT agent_id, argMax(report_id, (collected_at, received_at, report_id))
        FROM inventories FINAL
        GROUP BY agent_id
    )
    GROUP BY agent_id, report_id
) USING (agent_id, l_report_id)
ORDER BY l_hostname, agent_id`

// ListHosts returns one row per agent with its latest inventory, ordered by
// hostname.
func (db *DB) ListHosts(ctx context.Context) ([]Host, error) {
	rows, err := db.conn.Query(ctx, listHostsQuery)
	if err != nil {
		return nil, fmt.Errorf("listing hosts: %w", classify(err))
	}
	defer rows.Close()
	hosts := []Host{}
	for rows.Next() {
		var h Host
		if err := rows.Scan(&h.AgentID, &h.ReportID, &h.HostID, &h.Hostname, &h.OSFamily, &h.Platform,
			&h.PlatformVersion, &h.Kernel, &h.Arch, &h.Virtualization, &h.VirtualizationRole, &h.CPUModel,
			&h.CPUCores, &h.CPUThreads, &h.MemoryBytes, &h.CollectedAt, &h.FirstSeen, &h.LastSeen, &h.Reports,
			&h.MACs, &h.Addresses); err != nil {
			return nil, fmt.Errorf("listing hosts: %w", err)
		}
		if h.MACs == nil {
			h.MACs = []string{}
		}
		if h.Addresses == nil {
			h.Addresses = []string{}
		}
		sort.Strings(h.MACs)
		sort.Strings(h.Addresses)
		hosts = append(hosts, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing hosts: %w", classify(err))
	}
	return hosts, nil
}
