package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/umbrasec/umbra/collector/internal/registry"
)

// Finding states.
const (
	StateOpen         = "open"
	StateAcknowledged = "acknowledged"
	StateResolved     = "resolved"
)

// StoredFinding is a finding with its state.
type StoredFinding struct {
	Finding
	State      string    `json:"state"`
	OpenedAt   time.Time `json:"opened_at"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	Ack        *Ack      `json:"ack,omitempty"`
	digest     string
}

// Ack is an acknowledgement of a finding.
type Ack struct {
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Until  time.Time `json:"until,omitzero"` // zero: until the finding resolves
}

const findingColumns = `finding_id, kind, subject, state, severity, title, why, first_seen, last_seen, opened_at, resolved_at,
device_id, asset_id, seen_by, methods, subnets, switch_ports, ips, macs, hostnames, vendor, kinds, count, digest`

func findingRow(f StoredFinding, version uint64) []any {
	return []any{f.ID, version, f.Kind, f.Subject, f.State, f.Severity, f.Title, f.Why, dbTime(f.FirstSeen), dbTime(f.LastSeen), dbTime(f.OpenedAt), dbTime(f.ResolvedAt),
		f.DeviceID, f.AssetID, nn(f.SeenBy), nn(f.Methods), nn(f.Subnets), nn(f.SwitchPorts), nn(f.IPs), nn(f.MACs), nn(f.Hostnames), f.Vendor, nn(f.Kinds), uint64(f.Count), f.digest}
}

// stored reads every finding (with its acknowledgement).
func (e *Engine) stored(ctx context.Context) (map[string]*StoredFinding, error) {
	out := map[string]*StoredFinding{}
	err := e.db.QueryEach(ctx, "findings", "SELECT "+findingColumns+" FROM findings FINAL", func(rows driver.Rows) error {
		var f StoredFinding
		var count uint64
		if err := rows.Scan(&f.ID, &f.Kind, &f.Subject, &f.State, &f.Severity, &f.Title, &f.Why, &f.FirstSeen, &f.LastSeen, &f.OpenedAt, &f.ResolvedAt,
			&f.DeviceID, &f.AssetID, &f.SeenBy, &f.Methods, &f.Subnets, &f.SwitchPorts, &f.IPs, &f.MACs, &f.Hostnames, &f.Vendor, &f.Kinds, &count, &f.digest); err != nil {
			return err
		}
		f.Count = int(count)
		f.FirstSeen, f.LastSeen, f.OpenedAt, f.ResolvedAt = fromDB(f.FirstSeen), fromDB(f.LastSeen), fromDB(f.OpenedAt), fromDB(f.ResolvedAt)
		out[f.ID] = &f
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = e.db.QueryEach(ctx, "finding acknowledgements", "SELECT finding_id, reason, acked_by, acked_at, until, cleared FROM finding_acks FINAL", func(rows driver.Rows) error {
		var id string
		var a Ack
		var cleared uint8
		if err := rows.Scan(&id, &a.Reason, &a.By, &a.At, &a.Until, &cleared); err != nil {
			return err
		}
		if f := out[id]; f != nil && cleared == 0 {
			a.At, a.Until = fromDB(a.At), fromDB(a.Until)
			f.Ack = &a
		}
		return nil
	})
	return out, err
}

func (e *Engine) storeFindings(ctx context.Context, fs []Finding, st *RunStats) error {
	old, err := e.stored(ctx)
	if err != nil {
		return err
	}
	now := e.now().UTC()
	var rows, acks [][]any
	current := map[string]bool{}
	for _, f := range fs {
		current[f.ID] = true
		sf := StoredFinding{Finding: f, State: StateOpen, OpenedAt: now, digest: f.Digest()}
		if o := old[f.ID]; o != nil && o.State == StateOpen {
			if o.digest == sf.digest {
				st.Unchanged++
				continue
			}
			sf.OpenedAt = o.OpenedAt
		} else {
			st.Opened++
		}
		rows = append(rows, findingRow(sf, e.version()))
	}
	var ids []string
	for id := range old {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		o := old[id]
		if current[id] || o.State != StateOpen {
			continue
		}
		o.State, o.ResolvedAt = StateResolved, now
		st.Resolved++
		rows = append(rows, findingRow(*o, e.version()))
		if o.Ack != nil {
			// An acknowledgement covers one occurrence: if the condition
			// comes back, the finding is open again.
			acks = append(acks, []any{id, e.version(), o.Ack.Reason, o.Ack.By, dbTime(o.Ack.At), dbTime(o.Ack.Until), uint8(1)})
		}
	}
	if err := e.db.InsertRows(ctx, "INSERT INTO findings (finding_id, version, "+strings.TrimPrefix(findingColumns, "finding_id, ")+")", rows); err != nil {
		return err
	}
	return e.db.InsertRows(ctx, "INSERT INTO finding_acks (finding_id, version, reason, acked_by, acked_at, until, cleared)", acks)
}

// FindingFilter selects findings.
type FindingFilter struct {
	Kind  string
	State string // open (includes acknowledged), acknowledged, resolved, all; empty: open
}

// Kinds lists the finding kinds.
var Kinds = []string{KindUnregisteredDevice, KindUnmanagedAsset, KindUnregisteredAgent, KindMissingAsset, KindRetiredAssetSeen, KindUnapprovedSoftware, KindLicenceShortfall}

// Check reports a filter naming an unknown kind or state.
func (f FindingFilter) Check() error {
	switch f.State {
	case "", StateOpen, StateAcknowledged, StateResolved, "all":
	default:
		return fmt.Errorf("%w: state %q: want open, acknowledged, resolved or all", ErrInvalid, f.State)
	}
	if f.Kind != "" && !slices.Contains(Kinds, f.Kind) {
		return fmt.Errorf("%w: kind %q: want one of %s", ErrInvalid, f.Kind, strings.Join(Kinds, ", "))
	}
	return nil
}

// ListFindings returns findings with their effective state: an open
// finding with a current acknowledgement is acknowledged.
func (e *Engine) ListFindings(ctx context.Context, f FindingFilter) ([]StoredFinding, error) {
	all, err := e.stored(ctx)
	if err != nil {
		return nil, err
	}
	now := e.now()
	out := []StoredFinding{}
	for _, x := range all {
		if x.State == StateOpen && x.Ack != nil && (x.Ack.Until.IsZero() || now.Before(x.Ack.Until)) {
			x.State = StateAcknowledged
		}
		if f.Kind != "" && x.Kind != f.Kind {
			continue
		}
		switch f.State {
		case "", StateOpen:
			if x.State == StateResolved {
				continue
			}
		case "all":
		default:
			if x.State != f.State {
				continue
			}
		}
		out = append(out, *x)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		if !out[i].LastSeen.Equal(out[j].LastSeen) {
			return out[i].LastSeen.After(out[j].LastSeen)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// ErrNotFound is returned for a finding or device that does not exist.
var ErrNotFound = errors.New("not found")

// ErrInvalid is returned for a request that cannot be carried out as asked.
var ErrInvalid = errors.New("invalid request")

// Acknowledge records an acknowledgement (until zero: until resolved).
func (e *Engine) Acknowledge(ctx context.Context, actor registry.Actor, id, reason string, until time.Time) error {
	all, err := e.stored(ctx)
	if err != nil {
		return err
	}
	if all[id] == nil {
		return fmt.Errorf("finding %s: %w", id, ErrNotFound)
	}
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("%w: an acknowledgement needs a reason", ErrInvalid)
	}
	if !until.IsZero() && !until.After(e.now()) {
		return fmt.Errorf("%w: an acknowledgement must last until a future time", ErrInvalid)
	}
	v := e.version()
	if err := e.db.InsertRows(ctx, "INSERT INTO finding_acks (finding_id, version, reason, acked_by, acked_at, until, cleared)",
		[][]any{{id, v, reason, actor.ID, dbTime(e.now()), dbTime(until), uint8(0)}}); err != nil {
		return err
	}
	detail := "reason=" + reason
	if !until.IsZero() {
		detail += " until=" + until.UTC().Format(time.RFC3339)
	}
	return e.audit(ctx, actor, "finding.ack", id, detail)
}

// latestGeneration is the generation of the last finished run, or 0.
func (e *Engine) latestGeneration(ctx context.Context) (uint64, error) {
	return e.db.Count(ctx, "SELECT toUInt64(max(generation)) FROM reconcile_runs")
}

// Devices returns the devices of the latest run.
func (e *Engine) Devices(ctx context.Context) ([]Device, error) {
	gen, err := e.latestGeneration(ctx)
	if err != nil {
		return nil, err
	}
	out := []Device{}
	err = e.db.QueryEach(ctx, "devices", `SELECT device_id, first_seen, last_seen, hostnames, vendor, kinds, ips, macs, serials, agents, observers,
methods, subnets, switch_ports, anonymous, observations FROM devices FINAL WHERE generation = ? ORDER BY device_id`, func(rows driver.Rows) error {
		var d Device
		var anon uint8
		var n uint64
		if err := rows.Scan(&d.ID, &d.FirstSeen, &d.LastSeen, &d.Hostnames, &d.Vendor, &d.Kinds, &d.IPs, &d.MACs, &d.Serials, &d.Agents, &d.Observers,
			&d.Methods, &d.Subnets, &d.SwitchPorts, &anon, &n); err != nil {
			return err
		}
		d.Anonymous, d.Observations = anon == 1, int(n)
		out = append(out, d)
		return nil
	}, gen)
	return out, err
}

// Explain returns a device with its identifiers and the evidence that tied
// them.
func (e *Engine) Explain(ctx context.Context, id string) (Device, error) {
	devs, err := e.Devices(ctx)
	if err != nil {
		return Device{}, err
	}
	var d *Device
	for i := range devs {
		if devs[i].ID == id {
			d = &devs[i]
		}
	}
	if d == nil {
		return Device{}, fmt.Errorf("device %s: %w", id, ErrNotFound)
	}
	gen, err := e.latestGeneration(ctx)
	if err != nil {
		return Device{}, err
	}
	err = e.db.QueryEach(ctx, "device identifiers", `SELECT identifier, first_seen, last_seen FROM device_identifiers FINAL
WHERE generation = ? AND device_id = ? ORDER BY identifier`, func(rows driver.Rows) error {
		var x Identifier
		if err := rows.Scan(&x.ID, &x.FirstSeen, &x.LastSeen); err != nil {
			return err
		}
		x.FirstSeen, x.LastSeen = fromDB(x.FirstSeen), fromDB(x.LastSeen)
		d.Identifiers = append(d.Identifiers, x)
		return nil
	}, gen, id)
	if err != nil {
		return Device{}, err
	}
	err = e.db.QueryEach(ctx, "device evidence", `SELECT tied, outcome, method, observer, report_id, obs_idx, first_seen, last_seen, count FROM device_evidence FINAL
WHERE generation = ? AND device_id = ? ORDER BY idx`, func(rows driver.Rows) error {
		var ev Evidence
		var rep string
		var idx uint32
		var n uint64
		if err := rows.Scan(&ev.Tied, &ev.Outcome, &ev.Method, &ev.Observer, &rep, &idx, &ev.FirstSeen, &ev.LastSeen, &n); err != nil {
			return err
		}
		ev.Ref, ev.Count = rep, int(n)
		if !strings.HasPrefix(rep, "inventory:") {
			ev.Ref = fmt.Sprintf("%s#%d", rep, idx)
		}
		d.Evidence = append(d.Evidence, ev)
		return nil
	}, gen, id)
	return *d, err
}

// Register turns the device of a finding into an asset, prefilled from
// what was observed; the finding resolves on the next run.
func (e *Engine) Register(ctx context.Context, actor registry.Actor, findingID string, a registry.Asset) (registry.Asset, error) {
	all, err := e.stored(ctx)
	if err != nil {
		return registry.Asset{}, err
	}
	f := all[findingID]
	if f == nil || f.DeviceID == "" {
		return registry.Asset{}, fmt.Errorf("finding %s with a device: %w", findingID, ErrNotFound)
	}
	d, err := e.Explain(ctx, f.DeviceID)
	if err != nil {
		return registry.Asset{}, err
	}
	if a.Serial == "" && len(d.Serials) > 0 {
		a.Serial = strings.ToUpper(d.Serials[0])
	}
	if len(a.MACs) == 0 {
		a.MACs = d.MACs
	}
	if a.Hostname == "" && len(d.Hostnames) > 0 {
		a.Hostname = d.Hostnames[0]
	}
	if a.Name == "" {
		a.Name = a.Hostname
	}
	if a.Tag == "" {
		a.Tag = "UMB-" + strings.TrimPrefix(d.ID, "dev-")
	}
	if a.Category == "" {
		a.Category = categoryOf(d.Kinds)
	}
	if a.Notes == "" {
		a.Notes = fmt.Sprintf("registered from finding %s (%s %s)", findingID, d.Vendor, strings.Join(d.Kinds, ","))
	}
	a.ExpectAgent = a.ExpectAgent || len(d.Agents) > 0
	a.Source = "finding:" + findingID
	out, err := e.reg.Create(ctx, actor, a)
	if err != nil {
		return out, err
	}
	return out, e.audit(ctx, actor, "finding.register", findingID, "asset="+out.ID)
}

func categoryOf(kinds []string) registry.Category {
	for _, k := range kinds {
		switch k {
		case "router", "switch", "access-point":
			return registry.NetworkInfra
		case "printer", "camera", "media":
			return registry.Peripheral
		case "iot":
			return registry.Facility
		}
	}
	return registry.EndUserDevice
}
