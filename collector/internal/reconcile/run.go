package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/umbrasec/umbra/collector/internal/registry"
	"github.com/umbrasec/umbra/collector/internal/store"
)

// Engine runs reconciliation against ClickHouse. The identifier graph is
// kept between runs (live.go): a run applies what arrived since the last.
type Engine struct {
	db     *store.DB
	reg    *registry.Register
	log    *slog.Logger
	now    func() time.Time
	policy Policy

	mu      sync.Mutex // guards lastVer
	lastVer uint64
}

// runMu makes the runs of every engine in this process take turns: the
// loop's and those the API starts.
var runMu sync.Mutex

// New returns an engine; now nil means time.Now.
func New(db *store.DB, logger *slog.Logger, now func() time.Time) *Engine {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{db: db, reg: registry.New(db, now), log: logger, now: now,
		policy: Policy{MissingAfter: 14 * 24 * time.Hour, AgentSilentAfter: 7 * 24 * time.Hour}}
}

// Loop runs reconciliation every interval until ctx ends, and after each
// run announces new findings on the alert channels.
func (e *Engine) Loop(ctx context.Context, interval time.Duration, alerts ...Alerter) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := e.Run(ctx, "loop"); err != nil && ctx.Err() == nil {
			e.log.Warn("reconciliation failed", "error", err)
		} else if err := e.Alert(ctx, alerts); err != nil && ctx.Err() == nil {
			e.log.Warn("alerting failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunStats says what a run did.
type RunStats struct {
	Generation   uint64 `json:"generation"`
	Observations int    `json:"observations"` // in the graph
	New          int    `json:"new"`          // applied by this run
	Full         bool   `json:"full"`         // the graph was built from every stored observation
	Devices      int    `json:"devices"`
	Open         int    `json:"open"`
	Opened       int    `json:"opened"`
	Resolved     int    `json:"resolved"`
	Unchanged    int    `json:"unchanged"`
	DurationMS   int64  `json:"duration_ms"`
}

func (e *Engine) version() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := max(uint64(e.now().UnixNano()), e.lastVer+1)
	e.lastVer = v
	return v
}

func dbTime(t time.Time) time.Time {
	if t.IsZero() || t.Unix() <= 0 {
		return time.Unix(0, 0).UTC()
	}
	return t.UTC()
}

func fromDB(t time.Time) time.Time {
	if t.Unix() <= 0 {
		return time.Time{}
	}
	return t.UTC()
}

// Observations reads every observation and agent inventory as input for
// Resolve, and the subnets of the agents' interfaces.
func (e *Engine) Observations(ctx context.Context) ([]Observation, []netip.Prefix, error) {
	var obs []Observation
	err := e.db.QueryEach(ctx, "observations", `SELECT observed_at, observer, method, ip, mac, hostname, vendor, serial, via, port, kinds,
report_id, idx, evidence_keys, evidence_values FROM observations FINAL`, func(rows driver.Rows) error {
		var o Observation
		var rep string
		var idx uint32
		var ek, ev []string
		if err := rows.Scan(&o.At, &o.Observer, &o.Method, &o.IP, &o.MAC, &o.Hostname, &o.Vendor, &o.Serial, &o.Via, &o.Port, &o.Kinds, &rep, &idx, &ek, &ev); err != nil {
			return err
		}
		o.ClientID = clientID(ek, ev)
		o.Ref = obsRef(rep, idx)
		obs = append(obs, o)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	det, err := e.inventoryDetails(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	err = e.db.QueryEach(ctx, "inventories", `SELECT agent_id, report_id, collected_at, host_id, hostname FROM inventories FINAL`, func(rows driver.Rows) error {
		var o Observation
		var rep string
		if err := rows.Scan(&o.AgentID, &rep, &o.At, &o.HostID, &o.Hostname); err != nil {
			return err
		}
		o.Ref, o.Observer, o.Method = "inventory:"+rep, o.AgentID, "self"
		det.fill(&o, rep)
		obs = append(obs, o)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return obs, det.subnets(), nil
}

// clientID is the DHCP client identifier among an observation's evidence.
func clientID(keys, values []string) string {
	id := ""
	for i, k := range keys {
		if (k == "client_id" || k == "dhcp_client_id" || k == "client-id") && i < len(values) {
			id = values[i]
		}
	}
	return id
}

// invDetails is what an inventory observation takes from the tables
// beside its report: the system's identity and the host's interfaces.
type invDetails struct {
	hws      map[string]struct{ serial, uuid, vendor string } // by report id
	macs     map[string][]string
	ips      map[string]string
	prefixes map[netip.Prefix]bool // every subnet the agents' interfaces are on
}

// inventoryDetails reads the hardware identity and the interfaces of the
// reports reps; nil means every report.
func (e *Engine) inventoryDetails(ctx context.Context, reps []string) (*invDetails, error) {
	d := &invDetails{hws: map[string]struct{ serial, uuid, vendor string }{}, macs: map[string][]string{},
		ips: map[string]string{}, prefixes: map[netip.Prefix]bool{}}
	where, args := "", []any(nil)
	if reps != nil {
		where, args = " WHERE report_id IN (SELECT arrayJoin(?))", []any{reps}
	}
	err := e.db.QueryEach(ctx, "host hardware", `SELECT report_id, system_serial, system_uuid, system_vendor FROM host_hardware FINAL`+where,
		func(rows driver.Rows) error {
			var rep string
			var h struct{ serial, uuid, vendor string }
			if err := rows.Scan(&rep, &h.serial, &h.uuid, &h.vendor); err != nil {
				return err
			}
			d.hws[rep] = h
			return nil
		}, args...)
	if err != nil {
		return nil, err
	}
	err = e.db.QueryEach(ctx, "host interfaces", `SELECT report_id, mac, addrs, loopback FROM host_interfaces FINAL`+where+` ORDER BY report_id, name`,
		func(rows driver.Rows) error {
			var rep, mac string
			var addrs []string
			var lo uint8
			if err := rows.Scan(&rep, &mac, &addrs, &lo); err != nil {
				return err
			}
			if lo == 1 {
				return nil
			}
			if mac != "" {
				d.macs[rep] = append(d.macs[rep], mac)
			}
			for _, a := range addrs {
				if p, err := netip.ParsePrefix(a); err == nil && !p.Addr().IsLinkLocalUnicast() && !p.Addr().IsLoopback() {
					d.prefixes[p.Masked()] = true
					if d.ips[rep] == "" && p.Addr().Is4() {
						d.ips[rep] = p.Addr().String()
					}
				}
			}
			return nil
		}, args...)
	return d, err
}

// fill gives the inventory observation of report rep its details.
func (d *invDetails) fill(o *Observation, rep string) {
	h := d.hws[rep]
	o.Serial, o.UUID, o.Vendor, o.MACs, o.IP = h.serial, h.uuid, h.vendor, d.macs[rep], d.ips[rep]
}

// subnets lists the prefixes in a stable order.
func (d *invDetails) subnets() []netip.Prefix {
	ps := make([]netip.Prefix, 0, len(d.prefixes))
	for p := range d.prefixes {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].String() < ps[j].String() })
	return ps
}

// Splits returns the operators' splits.
func (e *Engine) Splits(ctx context.Context) ([]Split, error) {
	var out []Split
	err := e.db.QueryEach(ctx, "device splits", `SELECT split_id, identifiers, deleted FROM device_splits FINAL`, func(rows driver.Rows) error {
		var s Split
		var del uint8
		if err := rows.Scan(&s.ID, &s.Identifiers, &del); err != nil {
			return err
		}
		if del == 0 {
			out = append(out, s)
		}
		return nil
	})
	return out, err
}

// AddSplit records that identifiers must stay apart from the rest of their
// device, in every future run.
func (e *Engine) AddSplit(ctx context.Context, actor registry.Actor, ids []string, reason string) (string, error) {
	if len(ids) == 0 {
		return "", fmt.Errorf("%w: a split needs at least one identifier", ErrInvalid)
	}
	for i, id := range ids {
		typ, v, ok := strings.Cut(strings.ToLower(strings.TrimSpace(id)), ":")
		if _, known := priority[typ]; !ok || !known || v == "" {
			return "", fmt.Errorf("%w: identifier %q: want type:value with a type of serial, mac, agent, dhcp, hostid, uuid, rmac, seenname, anon", ErrInvalid, id)
		}
		ids[i] = typ + ":" + v
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := "s-" + hex.EncodeToString(b[:])
	v := e.version()
	if err := e.db.InsertRows(ctx, "INSERT INTO device_splits (split_id, version, identifiers, reason, deleted, changed_by, changed_at)",
		[][]any{{id, v, ids, reason, uint8(0), actor.ID, dbTime(e.now())}}); err != nil {
		return "", err
	}
	return id, e.audit(ctx, actor, "device.split", id, strings.Join(ids, " "))
}

func (e *Engine) audit(ctx context.Context, actor registry.Actor, action, target, detail string) error {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return e.db.Audit(ctx, store.AuditEvent{At: e.now(), EventID: hex.EncodeToString(b[:]), Actor: actor.ID, ActorKind: actor.Kind,
		Action: action, Target: target, Outcome: "ok", RemoteAddr: actor.Remote, Detail: detail})
}

// Rules returns the software catalogue.
func (e *Engine) Rules(ctx context.Context) ([]Rule, error) {
	var out []Rule
	err := e.db.QueryEach(ctx, "software rules", `SELECT rule_id, decision, name_pattern, publisher_pattern, source_pattern, entitlements, note, deleted FROM software_rules FINAL ORDER BY rule_id`, func(rows driver.Rows) error {
		var r Rule
		var del uint8
		var ent uint32
		if err := rows.Scan(&r.ID, &r.Decision, &r.NamePattern, &r.PublisherPattern, &r.SourcePattern, &ent, &r.Note, &del); err != nil {
			return err
		}
		r.Entitlements = int(ent)
		if del == 0 {
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// AddRule adds an approve or deny rule to the software catalogue.
func (e *Engine) AddRule(ctx context.Context, actor registry.Actor, r Rule) (Rule, error) {
	if r.Decision != "approve" && r.Decision != "deny" {
		return r, fmt.Errorf("%w: decision %q: want approve or deny", ErrInvalid, r.Decision)
	}
	if r.Entitlements < 0 || r.Entitlements > 1<<30 || r.Entitlements > 0 && r.Decision != "approve" {
		return r, fmt.Errorf("%w: entitlements must be a count of licences on an approve rule", ErrInvalid)
	}
	if r.NamePattern == "" && r.PublisherPattern == "" && r.SourcePattern == "" {
		return r, fmt.Errorf("%w: a rule needs a name, publisher or source pattern", ErrInvalid)
	}
	if _, err := pathMatchCheck(r.NamePattern, r.PublisherPattern, r.SourcePattern); err != nil {
		return r, err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	r.ID = "r-" + hex.EncodeToString(b[:])
	v := e.version()
	if err := e.db.InsertRows(ctx, "INSERT INTO software_rules (rule_id, version, decision, name_pattern, publisher_pattern, source_pattern, entitlements, note, deleted, changed_by, changed_at)",
		[][]any{{r.ID, v, r.Decision, r.NamePattern, r.PublisherPattern, r.SourcePattern, uint32(r.Entitlements), r.Note, uint8(0), actor.ID, dbTime(e.now())}}); err != nil {
		return r, err
	}
	return r, e.audit(ctx, actor, "software.rule."+r.Decision, r.ID, fmt.Sprintf("name=%q publisher=%q source=%q", r.NamePattern, r.PublisherPattern, r.SourcePattern))
}

func pathMatchCheck(pats ...string) (bool, error) {
	for _, p := range pats {
		if _, err := pathMatch(p); err != nil {
			return false, fmt.Errorf("%w: pattern %q: %v", ErrInvalid, p, err)
		}
	}
	return true, nil
}

func nn(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func boolU8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
