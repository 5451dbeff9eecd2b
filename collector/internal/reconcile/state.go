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
	return e.storedWhere(ctx, "SELECT "+findingColumns+" FROM findings FINAL", "SELECT finding_id, reason, acked_by, acked_at, until, cleared FROM finding_acks FINAL")
}

// storedByID reads the findings of ids (with their acknowledgements). It
// reads every stored version of them through the primary key and keeps
// the latest (what FINAL would give) rather than use FINAL, which merges
// the whole table on ClickHouse 18.16 even for a few ids.
func (e *Engine) storedByID(ctx context.Context, ids []string) (map[string]*StoredFinding, error) {
	if len(ids) == 0 {
		return map[string]*StoredFinding{}, nil
	}
	// A few ids are bound one by one (the primary key's index takes a
	// list at once), many as one array.
	set, args := "(SELECT arrayJoin(?))", []any{ids}
	if len(ids) <= 1000 {
		set = "(" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")"
		args = make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
	}
	return e.storedWhere(ctx, "SELECT "+findingColumns+" FROM findings WHERE finding_id IN "+set+" ORDER BY finding_id, version",
		"SELECT finding_id, reason, acked_by, acked_at, until, cleared FROM finding_acks WHERE finding_id IN "+set+" ORDER BY finding_id, version", args...)
}

// scanFinding reads a row of findingColumns.
func scanFinding(rows driver.Rows) (*StoredFinding, error) {
	f := new(StoredFinding)
	return f, scanFindingInto(rows, f)
}

// scanFindingInto reads a row of findingColumns into f, which it sets
// whole.
func scanFindingInto(rows driver.Rows, f *StoredFinding) error {
	*f = StoredFinding{}
	var count uint64
	if err := rows.Scan(&f.ID, &f.Kind, &f.Subject, &f.State, &f.Severity, &f.Title, &f.Why, &f.FirstSeen, &f.LastSeen, &f.OpenedAt, &f.ResolvedAt,
		&f.DeviceID, &f.AssetID, &f.SeenBy, &f.Methods, &f.Subnets, &f.SwitchPorts, &f.IPs, &f.MACs, &f.Hostnames, &f.Vendor, &f.Kinds, &count, &f.digest); err != nil {
		return err
	}
	f.Count = int(count)
	f.FirstSeen, f.LastSeen, f.OpenedAt, f.ResolvedAt = fromDB(f.FirstSeen), fromDB(f.LastSeen), fromDB(f.OpenedAt), fromDB(f.ResolvedAt)
	return nil
}

// storedWhere reads findings and acknowledgements with two constant
// queries that take the same arguments. When a query gives several
// versions of a row, in order, the last one counts.
func (e *Engine) storedWhere(ctx context.Context, qf, qa string, args ...any) (map[string]*StoredFinding, error) {
	out := map[string]*StoredFinding{}
	err := e.db.QueryEach(ctx, "findings", qf, func(rows driver.Rows) error {
		f, err := scanFinding(rows)
		if err != nil {
			return err
		}
		out[f.ID] = f
		return nil
	}, args...)
	if err != nil {
		return nil, err
	}
	err = e.db.QueryEach(ctx, "finding acknowledgements", qa, func(rows driver.Rows) error {
		var id string
		var a Ack
		var cleared uint8
		if err := rows.Scan(&id, &a.Reason, &a.By, &a.At, &a.Until, &cleared); err != nil {
			return err
		}
		if f := out[id]; f != nil {
			f.Ack = nil
			if cleared == 0 {
				a.At, a.Until = fromDB(a.At), fromDB(a.Until)
				f.Ack = &a
			}
		}
		return nil
	}, args...)
	return out, err
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
// finding with a current acknowledgement is acknowledged. The kind and the
// stored state are filtered in ClickHouse.
func (e *Engine) ListFindings(ctx context.Context, f FindingFilter) ([]StoredFinding, error) {
	out := []StoredFinding{}
	err := e.EachFinding(ctx, f, func(x *StoredFinding) error {
		out = append(out, *x)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EachFinding calls fn with every finding the filter selects (the same
// *StoredFinding each time, valid until fn returns), with its
// effective state, in the order of the reports (kind, then last seen,
// latest first, then id), as ClickHouse sends them: an export of a million
// findings holds one at a time. The kind and the stored state are filtered
// and the rows sorted in ClickHouse; the acknowledgements (few) are read
// first.
func (e *Engine) EachFinding(ctx context.Context, f FindingFilter, fn func(*StoredFinding) error) error {
	acks := map[string]*Ack{}
	err := e.db.QueryEach(ctx, "finding acknowledgements", "SELECT finding_id, reason, acked_by, acked_at, until, cleared FROM finding_acks FINAL",
		func(rows driver.Rows) error {
			var id string
			var a Ack
			var cleared uint8
			if err := rows.Scan(&id, &a.Reason, &a.By, &a.At, &a.Until, &cleared); err != nil {
				return err
			}
			if cleared == 0 {
				a.At, a.Until = fromDB(a.At), fromDB(a.Until)
				acks[id] = &a
			}
			return nil
		})
	if err != nil {
		return err
	}
	state := ""
	switch f.State {
	case "", StateOpen, StateAcknowledged:
		state = StateOpen
	case StateResolved:
		state = StateResolved
	}
	// WHERE applies after FINAL (18.16 too; PREWHERE would not).
	q := "SELECT " + findingColumns + ` FROM findings FINAL WHERE (? = '' OR kind = ?) AND (? = '' OR state = ?)
ORDER BY kind, last_seen DESC, finding_id`
	now := e.now()
	// One finding at a time: fn gets the same one, read anew, for each row
	// (an export of a million findings then allocates no million structs).
	x := new(StoredFinding)
	return e.db.QueryEach(ctx, "findings", q, func(rows driver.Rows) error {
		if err := scanFindingInto(rows, x); err != nil {
			return err
		}
		x.Ack = acks[x.ID]
		if !effectiveIn(x, f, now) {
			return nil
		}
		return fn(x)
	}, f.Kind, f.Kind, state, state)
}

// FindingsPage returns the first n findings the filter selects and how
// many it selects. The open unregistered-device findings (the shadow
// report) come from ShadowPage; other filters read every finding.
func (e *Engine) FindingsPage(ctx context.Context, f FindingFilter, n int) ([]StoredFinding, uint64, error) {
	if f.Kind == KindUnregisteredDevice && (f.State == "" || f.State == StateOpen) {
		return e.ShadowPage(ctx, n)
	}
	fs, err := e.ListFindings(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	return fs[:min(n, len(fs))], uint64(len(fs)), nil
}

// ShadowPage returns the n open unregistered-device findings seen last
// (with their acknowledgements) and how many are open: the first page of
// the shadow report. From the state this process keeps between runs
// (shadowIndex) it costs a lookup of n findings by id; without it (before
// the first run of the process has finished), two queries over the
// findings table.
func (e *Engine) ShadowPage(ctx context.Context, n int) ([]StoredFinding, uint64, error) {
	if ids, total, ok := e.livePage(n); ok {
		if len(ids) == 0 {
			return []StoredFinding{}, total, nil
		}
		if fs, ok := e.liveRows(ids); ok {
			return fs, total, nil
		}
		all, err := e.storedByID(ctx, ids)
		if err != nil {
			return nil, 0, err
		}
		return e.effective(all, FindingFilter{Kind: KindUnregisteredDevice}), total, nil
	}
	return e.shadowPageStored(ctx, n)
}

// shadowPageStored is ShadowPage from the findings table alone.
func (e *Engine) shadowPageStored(ctx context.Context, n int) ([]StoredFinding, uint64, error) {
	total, err := e.db.Count(ctx, "SELECT count() FROM findings FINAL WHERE kind = ? AND state = ?", KindUnregisteredDevice, StateOpen)
	if err != nil {
		return nil, 0, err
	}
	var ids []string
	err = e.db.QueryEach(ctx, "shadow report", `SELECT finding_id FROM findings FINAL WHERE kind = ? AND state = ?
ORDER BY last_seen DESC, finding_id LIMIT ?`, func(rows driver.Rows) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	}, KindUnregisteredDevice, StateOpen, uint64(n))
	if err != nil || len(ids) == 0 {
		return []StoredFinding{}, total, err
	}
	all, err := e.storedByID(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	return e.effective(all, FindingFilter{Kind: KindUnregisteredDevice}), total, nil
}

// effectiveIn applies an acknowledgement to a finding's state and reports
// whether the filter selects it.
func effectiveIn(x *StoredFinding, f FindingFilter, now time.Time) bool {
	if x.State == StateOpen && x.Ack != nil && (x.Ack.Until.IsZero() || now.Before(x.Ack.Until)) {
		x.State = StateAcknowledged
	}
	if f.Kind != "" && x.Kind != f.Kind {
		return false
	}
	switch f.State {
	case "", StateOpen:
		return x.State != StateResolved
	case "all":
		return true
	}
	return x.State == f.State
}

// effective applies acknowledgements and the filter, and sorts by kind,
// then last seen (latest first), then id.
func (e *Engine) effective(all map[string]*StoredFinding, f FindingFilter) []StoredFinding {
	now := e.now()
	out := []StoredFinding{}
	for _, x := range all {
		if effectiveIn(x, f, now) {
			out = append(out, *x)
		}
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
	return out
}

// ErrNotFound is returned for a finding or device that does not exist.
var ErrNotFound = errors.New("not found")

// ErrInvalid is returned for a request that cannot be carried out as asked.
var ErrInvalid = errors.New("invalid request")

// Acknowledge records an acknowledgement (until zero: until resolved).
func (e *Engine) Acknowledge(ctx context.Context, actor registry.Actor, id, reason string, until time.Time) error {
	all, err := e.storedByID(ctx, []string{id})
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
	at := e.now()
	if err := e.db.InsertRows(ctx, "INSERT INTO finding_acks (finding_id, version, reason, acked_by, acked_at, until, cleared)",
		[][]any{{id, v, reason, actor.ID, dbTime(at), dbTime(until), uint8(0)}}); err != nil {
		return err
	}
	if l, ok := lives.Load(e.db); ok {
		l.(*live).shadow.setAck(id, &Ack{Reason: reason, By: actor.ID, At: fromDB(dbTime(at)), Until: fromDB(dbTime(until))})
	}
	detail := "reason=" + reason
	if !until.IsZero() {
		detail += " until=" + until.UTC().Format(time.RFC3339)
	}
	return e.audit(ctx, actor, "finding.ack", id, detail)
}

// deviceColumns are device_current's columns but identifiers and evidence
// (which are in device_parts).
const deviceColumns = `device_id, deleted, first_seen, last_seen, hostnames, vendor, kinds, ips, macs, serials, agents, observers,
methods, subnets, switch_ports, anonymous, observations`

func scanDevice(rows driver.Rows) (Device, bool, error) {
	var d Device
	var del, anon uint8
	var n uint64
	if err := rows.Scan(&d.ID, &del, &d.FirstSeen, &d.LastSeen, &d.Hostnames, &d.Vendor, &d.Kinds, &d.IPs, &d.MACs, &d.Serials, &d.Agents, &d.Observers,
		&d.Methods, &d.Subnets, &d.SwitchPorts, &anon, &n); err != nil {
		return d, false, err
	}
	d.Anonymous, d.Observations = anon == 1, int(n)
	d.FirstSeen, d.LastSeen = fromDB(d.FirstSeen), fromDB(d.LastSeen)
	return d, del == 0, nil
}

// Devices returns the current devices (as of the last run).
func (e *Engine) Devices(ctx context.Context) ([]Device, error) {
	out := []Device{}
	err := e.db.QueryEach(ctx, "devices", "SELECT "+deviceColumns+" FROM device_current FINAL ORDER BY device_id", func(rows driver.Rows) error {
		d, ok, err := scanDevice(rows)
		if ok {
			out = append(out, d)
		}
		return err
	})
	return out, err
}

// Explain returns a device with its identifiers and the evidence that tied
// them.
func (e *Engine) Explain(ctx context.Context, id string) (Device, error) {
	var d Device
	found := false
	err := e.db.QueryEach(ctx, "device", "SELECT "+deviceColumns+" FROM device_current FINAL WHERE device_id = ?", func(rows driver.Rows) error {
		x, ok, err := scanDevice(rows)
		if ok {
			d, found = x, true
		}
		return err
	}, id)
	if err != nil {
		return Device{}, err
	}
	if !found {
		return Device{}, fmt.Errorf("device %s: %w", id, ErrNotFound)
	}
	if err := e.withParts(ctx, map[string]*Device{id: &d}, " AND device_id = ?", id); err != nil {
		return Device{}, err
	}
	return d, nil
}

// Register turns the device of a finding into an asset, prefilled from
// what was observed; the finding resolves on the next run.
func (e *Engine) Register(ctx context.Context, actor registry.Actor, findingID string, a registry.Asset) (registry.Asset, error) {
	all, err := e.storedByID(ctx, []string{findingID})
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
