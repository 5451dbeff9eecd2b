package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/umbrasec/umbra/collector/internal/registry"
)

// live is what the engines of one process keep of a database between runs:
// the identifier graph, the watermark of what it applied, and what it knows
// of the stored findings and of which device matches which asset key.
type live struct {
	inc       *Incremental
	splitsKey string
	watermark time.Time       // the latest received_at applied
	done      map[string]bool // report ids applied (a retried report is stored twice)

	open    map[string]findingMeta // every stored finding's latest state, by id
	keys    map[string][]string    // device id -> its asset match keys
	byKey   map[string][]string    // asset match key -> device ids, sorted
	matched map[string]Device      // devices an asset key names, as last built
}

type findingMeta struct {
	kind, subject, digest, state string
	openedAt, lastSeen           time.Time
}

// lives holds one live state per database handle. Runs take turns (runMu).
var lives sync.Map // *store.DB -> *live

// overlap is how far before its watermark a run looks again, for rows whose
// insert finished after a later row was read (received_at is stamped before
// the insert) or that another collector stamped with a lagging clock.
const overlap = 30 * time.Second

// chunkRows bounds the observations a rebuild holds at once.
const chunkRows = 2_000_000

func matchKeys(d *Device) []string {
	var ks []string
	for _, s := range d.Serials {
		ks = append(ks, "s:"+s)
	}
	for _, m := range d.MACs {
		ks = append(ks, "m:"+m)
	}
	for _, h := range d.Hostnames {
		ks = append(ks, "h:"+h)
	}
	return ks
}

func assetKeys(a registry.Asset) []string {
	var ks []string
	if a.Serial != "" {
		ks = append(ks, "s:"+strings.ToLower(a.Serial))
	}
	for _, m := range a.MACs {
		ks = append(ks, "m:"+m)
	}
	if h := strings.ToLower(a.Hostname); h != "" {
		ks = append(ks, "h:"+h)
	}
	return ks
}

func (l *live) unindex(id string) {
	for _, k := range l.keys[id] {
		l.byKey[k] = slices.DeleteFunc(l.byKey[k], func(x string) bool { return x == id })
		if len(l.byKey[k]) == 0 {
			delete(l.byKey, k)
		}
	}
	delete(l.keys, id)
	delete(l.matched, id)
}

func (l *live) index(d *Device) {
	ks := matchKeys(d)
	l.keys[d.ID] = ks
	for _, k := range ks {
		ids := l.byKey[k]
		i, found := slices.BinarySearch(ids, d.ID)
		if !found {
			l.byKey[k] = slices.Insert(ids, i, d.ID)
		}
	}
}

func splitsKey(ss []Split) string {
	var parts []string
	for _, s := range ss {
		ids := slices.Clone(s.Identifiers)
		sort.Strings(ids)
		parts = append(parts, s.ID+"="+strings.Join(ids, ","))
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}

// feedColumns are read from observation_feed.
const feedColumns = `received_at, observed_at, observer, method, ip, mac, hostname, vendor, serial, via, port, kinds, report_id, idx, evidence_keys, evidence_values`

// batch is what a run applies: observations and the inventories' prefixes.
type batch struct {
	obs      []Observation
	prefixes []netip.Prefix
	reports  map[string]bool
	latest   time.Time
}

// read reads the observations and inventories received in [from, to) (to
// zero: no end) of reports not in skip.
func (e *Engine) read(ctx context.Context, from, to time.Time, skip map[string]bool) (*batch, error) {
	b := &batch{reports: map[string]bool{}}
	// An open window binds its start twice: the driver cannot bind a
	// DateTime near its end of range.
	qObs := "SELECT " + feedColumns + " FROM observation_feed WHERE received_at >= ? AND received_at < ?"
	qInv := `SELECT agent_id, report_id, collected_at, host_id, hostname, received_at FROM inventories FINAL
WHERE received_at >= ? AND received_at < ?`
	end := dbTime(to)
	if to.IsZero() {
		qObs = "SELECT " + feedColumns + " FROM observation_feed WHERE received_at >= ? AND received_at >= ?"
		qInv = `SELECT agent_id, report_id, collected_at, host_id, hostname, received_at FROM inventories FINAL
WHERE received_at >= ? AND received_at >= ?`
		end = dbTime(from)
	}
	type key struct {
		rep string
		idx uint32
	}
	seen := map[key]bool{}
	err := e.db.QueryEach(ctx, "new observations", qObs, func(rows driver.Rows) error {
		var o Observation
		var rep string
		var idx uint32
		var recv time.Time
		var ek, ev []string
		if err := rows.Scan(&recv, &o.At, &o.Observer, &o.Method, &o.IP, &o.MAC, &o.Hostname, &o.Vendor, &o.Serial, &o.Via, &o.Port, &o.Kinds, &rep, &idx, &ek, &ev); err != nil {
			return err
		}
		if skip[rep] || seen[key{rep, idx}] {
			return nil
		}
		seen[key{rep, idx}] = true
		b.reports[rep] = true
		b.latest = later(b.latest, recv)
		o.ClientID = clientID(ek, ev)
		o.Ref = fmt.Sprintf("%s#%d", rep, idx)
		b.obs = append(b.obs, o)
		return nil
	}, dbTime(from), end)
	if err != nil {
		return nil, err
	}
	var invs []Observation
	var reps []string
	err = e.db.QueryEach(ctx, "new inventories", qInv, func(rows driver.Rows) error {
		var o Observation
		var rep string
		var recv time.Time
		if err := rows.Scan(&o.AgentID, &rep, &o.At, &o.HostID, &o.Hostname, &recv); err != nil {
			return err
		}
		if skip[rep] || b.reports[rep] {
			return nil
		}
		b.reports[rep] = true
		b.latest = later(b.latest, recv)
		o.Ref, o.Observer, o.Method = "inventory:"+rep, o.AgentID, "self"
		invs = append(invs, o)
		reps = append(reps, rep)
		return nil
	}, dbTime(from), end)
	if err != nil || len(invs) == 0 {
		return b, err
	}
	det, err := e.inventoryDetails(ctx, reps)
	if err != nil {
		return nil, err
	}
	for _, o := range invs {
		det.fill(&o, strings.TrimPrefix(o.Ref, "inventory:"))
		b.obs = append(b.obs, o)
	}
	b.prefixes = det.subnets()
	return b, nil
}

// agentSpans reads when each agent's inventories began and ended, so a
// rebuild judges clones as Resolve does, with every inventory known.
func (e *Engine) agentSpans(ctx context.Context) (map[string][2]time.Time, error) {
	out := map[string][2]time.Time{}
	err := e.db.QueryEach(ctx, "agent lifetimes", `SELECT agent_id, min(collected_at), max(collected_at) FROM inventories GROUP BY agent_id`, func(rows driver.Rows) error {
		var id string
		var a, b time.Time
		if err := rows.Scan(&id, &a, &b); err != nil {
			return err
		}
		out[IDAgent+":"+id] = [2]time.Time{a.UTC(), b.UTC()}
		return nil
	})
	return out, err
}

// chunks splits the feed into windows of received_at of about chunkRows
// rows each; the last window has no end.
func (e *Engine) chunks(ctx context.Context) ([]time.Time, error) {
	var starts []time.Time
	var rows uint64
	err := e.db.QueryEach(ctx, "feed size", `SELECT toStartOfHour(received_at) AS h, count() FROM observation_feed GROUP BY h ORDER BY h`, func(r driver.Rows) error {
		var h time.Time
		var n uint64
		if err := r.Scan(&h, &n); err != nil {
			return err
		}
		if len(starts) == 0 || rows+n > chunkRows {
			starts = append(starts, h.UTC())
			rows = 0
		}
		rows += n
		return nil
	})
	if len(starts) == 0 {
		starts = []time.Time{time.Unix(0, 0).UTC()}
	}
	starts[0] = time.Unix(0, 0).UTC()
	return starts, err
}

// rebuild builds the graph from every stored observation, window by window
// of arrival.
func (e *Engine) rebuild(ctx context.Context, splits []Split) (*live, int, error) {
	l := &live{inc: NewIncremental(splits), splitsKey: splitsKey(splits), done: map[string]bool{},
		keys: map[string][]string{}, byKey: map[string][]string{}, matched: map[string]Device{}}
	spans, err := e.agentSpans(ctx)
	if err != nil {
		return nil, 0, err
	}
	for id, sp := range spans {
		l.inc.g.span[id] = sp
	}
	starts, err := e.chunks(ctx)
	if err != nil {
		return nil, 0, err
	}
	n := 0
	for i, from := range starts {
		var to time.Time
		if i+1 < len(starts) {
			to = starts[i+1]
		}
		b, err := e.read(ctx, from, to, l.done)
		if err != nil {
			return nil, 0, err
		}
		l.inc.AddSubnets(b.prefixes)
		if !l.inc.Apply(b.obs) {
			return nil, 0, fmt.Errorf("rebuilding the identifier graph: agent lifetimes changed while reading (retry)")
		}
		n += len(b.obs)
		for r := range b.reports {
			l.done[r] = true
		}
		l.watermark = later(l.watermark, b.latest)
	}
	l.open, err = e.findingMetas(ctx)
	return l, n, err
}

// findingMetas reads the latest state of every stored finding.
func (e *Engine) findingMetas(ctx context.Context) (map[string]findingMeta, error) {
	out := map[string]findingMeta{}
	err := e.db.QueryEach(ctx, "findings", `SELECT finding_id, kind, subject, digest, state, opened_at, last_seen FROM findings FINAL`, func(rows driver.Rows) error {
		var id string
		var m findingMeta
		if err := rows.Scan(&id, &m.kind, &m.subject, &m.digest, &m.state, &m.openedAt, &m.lastSeen); err != nil {
			return err
		}
		m.openedAt, m.lastSeen = fromDB(m.openedAt), fromDB(m.lastSeen)
		out[id] = m
		return nil
	})
	return out, err
}

// Run applies the observations received since the last run to the
// identifier graph (building it from every stored observation on the
// first run of the process, after an operator's split, or when a batch
// unmasks clones), then recomputes the findings of the devices that
// changed, of the register and of the software, and stores what changed.
func (e *Engine) Run(ctx context.Context, trigger string) (RunStats, error) {
	runMu.Lock()
	defer runMu.Unlock()
	start := e.now()
	clock := time.Now()
	splits, err := e.Splits(ctx)
	if err != nil {
		return RunStats{}, err
	}
	var l *live
	if v, ok := lives.Load(e.db); ok {
		l = v.(*live)
	}
	var st RunStats
	if l != nil && l.splitsKey == splitsKey(splits) {
		b, err := e.read(ctx, l.watermark.Add(-overlap), time.Time{}, l.done)
		if err != nil {
			return st, err
		}
		l.inc.AddSubnets(b.prefixes)
		if l.inc.Apply(b.obs) {
			st.New = len(b.obs)
			for r := range b.reports {
				l.done[r] = true
			}
			l.watermark = later(l.watermark, b.latest)
		} else {
			l = nil
		}
	} else {
		l = nil
	}
	if l == nil {
		lives.Delete(e.db)
		var n int
		if l, n, err = e.rebuild(ctx, splits); err != nil {
			return st, err
		}
		st.New, st.Full = n, true
	}
	tApply := time.Since(clock)
	changed, gone := l.inc.Changes()
	tChanges := time.Since(clock)
	gen := e.version()
	st.Generation, st.Observations, st.Devices = gen, l.inc.Observations(), len(l.inc.rootOf)
	// Changes has handed over what changed: if storing it fails, the next
	// run rebuilds rather than forget it.
	lives.Store(e.db, l)
	if err := e.storeChanged(ctx, gen, changed, gone); err != nil {
		lives.Delete(e.db)
		return st, err
	}
	tDevices := time.Since(clock)
	for _, id := range gone {
		l.unindex(id)
	}
	for i := range changed {
		l.unindex(changed[i].ID)
		l.index(&changed[i])
	}
	if err := e.findingsOf(ctx, l, changed, gone, start, &st); err != nil {
		lives.Delete(e.db)
		return st, err
	}
	if err := e.db.InsertRows(ctx, "INSERT INTO reconcile_runs (generation, started_at, finished_at, observations, devices, findings_open, trigger)",
		[][]any{{gen, dbTime(start), dbTime(e.now()), uint64(st.Observations), uint64(st.Devices), uint64(st.Open), trigger}}); err != nil {
		return st, err
	}
	st.DurationMS = time.Since(clock).Milliseconds()
	e.log.Debug("reconcile phases", "read_apply_seconds", tApply.Seconds(), "devices_built_seconds", (tChanges - tApply).Seconds(),
		"devices_stored_seconds", (tDevices - tChanges).Seconds(), "findings_seconds", time.Since(clock).Seconds()-tDevices.Seconds())
	e.log.Info("reconciled", "trigger", trigger, "full", st.Full, "new_observations", st.New, "observations", st.Observations, "devices", st.Devices,
		"devices_changed", len(changed), "devices_gone", len(gone), "findings_open", st.Open, "opened", st.Opened, "resolved", st.Resolved,
		"duration_seconds", float64(st.DurationMS)/1000)
	return st, nil
}

// findingsOf recomputes the findings that the changed devices, the register
// and the software catalogue may have changed, and stores the differences.
func (e *Engine) findingsOf(ctx context.Context, l *live, changed []Device, gone []string, now time.Time, st *RunStats) error {
	assets, err := e.reg.List(ctx)
	if err != nil {
		return err
	}
	sw, err := e.db.SoftwareInstalls(ctx)
	if err != nil {
		return err
	}
	var software []Software
	for _, s := range sw {
		software = append(software, Software{Name: s.Name, Source: s.Source, Publishers: s.Publishers, Versions: s.Versions, Agents: s.Agents, Installs: int(s.Installs)})
	}
	rules, err := e.Rules(ctx)
	if err != nil {
		return err
	}
	// The devices to judge: those that changed, and every device an asset
	// could match (so Match sees all its candidates).
	subset := map[string]Device{}
	for _, d := range changed {
		subset[d.ID] = d
	}
	for _, a := range assets {
		if a.Lifecycle == registry.Planned || a.Lifecycle == registry.Ordered {
			continue
		}
		for _, k := range assetKeys(a) {
			for _, id := range l.byKey[k] {
				if _, ok := subset[id]; ok {
					continue
				}
				d, ok := l.matched[id]
				if !ok {
					if d, ok = l.inc.Device(id); !ok {
						continue
					}
					l.matched[id] = d
				}
				subset[id] = d
			}
		}
	}
	devs := make([]Device, 0, len(subset))
	for _, d := range subset {
		devs = append(devs, d)
	}
	sort.Slice(devs, func(i, j int) bool { return devs[i].ID < devs[j].ID })
	pol := e.policy
	pol.Now = now
	if hbs, err := e.db.LastHeartbeats(ctx); err != nil {
		e.log.Warn("reading heartbeats; agents are judged by their reports alone", "error", err)
	} else {
		pol.AgentContact = make(map[string]time.Time, len(hbs))
		for id, hb := range hbs {
			pol.AgentContact[id] = hb.ReceivedAt
		}
	}
	fs := Findings(devs, assets, software, rules, pol)
	// The findings this run judged: of the devices above and those gone,
	// and every finding about an asset, a package or a rule.
	judged := func(subject string) bool {
		if id, ok := strings.CutPrefix(subject, "device:"); ok {
			_, in := subset[id]
			return in || slices.Contains(gone, id)
		}
		return true
	}
	return e.storeFindingDiff(ctx, l, fs, judged, st)
}

func (e *Engine) storeFindingDiff(ctx context.Context, l *live, fs []Finding, judged func(string) bool, st *RunStats) error {
	now := e.now().UTC()
	var rows [][]any
	current := map[string]bool{}
	written := 0
	for _, f := range fs {
		current[f.ID] = true
		sf := StoredFinding{Finding: f, State: StateOpen, OpenedAt: now, digest: f.Digest()}
		if o, ok := l.open[f.ID]; ok && o.state == StateOpen {
			if o.digest == sf.digest {
				continue
			}
			sf.OpenedAt = o.openedAt
		} else {
			st.Opened++
		}
		rows = append(rows, findingRow(sf, e.version()))
		written++
		l.open[f.ID] = findingMeta{kind: f.Kind, subject: f.Subject, digest: sf.digest, state: StateOpen, openedAt: sf.OpenedAt, lastSeen: f.LastSeen}
	}
	var resolve []string
	for id, m := range l.open {
		if m.state == StateOpen && !current[id] && judged(m.subject) {
			resolve = append(resolve, id)
		}
	}
	sort.Strings(resolve)
	var acks [][]any
	if len(resolve) > 0 {
		old, err := e.storedByID(ctx, resolve)
		if err != nil {
			return err
		}
		for _, id := range resolve {
			o := old[id]
			if o == nil {
				continue
			}
			o.State, o.ResolvedAt = StateResolved, now
			st.Resolved++
			rows = append(rows, findingRow(*o, e.version()))
			m := l.open[id]
			m.state = StateResolved
			l.open[id] = m
			if o.Ack != nil {
				// An acknowledgement covers one occurrence: if the condition
				// comes back, the finding is open again.
				acks = append(acks, []any{id, e.version(), o.Ack.Reason, o.Ack.By, dbTime(o.Ack.At), dbTime(o.Ack.Until), uint8(1)})
			}
		}
	}
	for _, m := range l.open {
		if m.state == StateOpen {
			st.Open++
		}
	}
	// Unchanged: the open findings this run did not have to write, judged
	// again or not.
	st.Unchanged = st.Open - written
	if err := e.db.InsertRows(ctx, "INSERT INTO findings (finding_id, version, "+strings.TrimPrefix(findingColumns, "finding_id, ")+")", rows); err != nil {
		return err
	}
	return e.db.InsertRows(ctx, "INSERT INTO finding_acks (finding_id, version, reason, acked_by, acked_at, until, cleared)", acks)
}

// storeChanged writes the devices that changed and marks those gone.
func (e *Engine) storeChanged(ctx context.Context, gen uint64, changed []Device, gone []string) error {
	rows := make([][]any, 0, len(changed)+len(gone))
	for _, d := range changed {
		ids, err := json.Marshal(d.Identifiers)
		if err != nil {
			return err
		}
		ev, err := json.Marshal(d.Evidence)
		if err != nil {
			return err
		}
		rows = append(rows, []any{d.ID, gen, uint8(0), dbTime(d.FirstSeen), dbTime(d.LastSeen), nn(d.Hostnames), d.Vendor, nn(d.Kinds), nn(d.IPs), nn(d.MACs),
			nn(d.Serials), nn(d.Agents), nn(d.Observers), nn(d.Methods), nn(d.Subnets), nn(d.SwitchPorts), boolU8(d.Anonymous), uint64(d.Observations), string(ids), string(ev)})
	}
	epoch := dbTime(time.Time{})
	for _, id := range gone {
		rows = append(rows, []any{id, gen, uint8(1), epoch, epoch, []string{}, "", []string{}, []string{}, []string{},
			[]string{}, []string{}, []string{}, []string{}, []string{}, []string{}, uint8(0), uint64(0), "[]", "[]"})
	}
	return e.db.InsertRows(ctx, `INSERT INTO device_current (device_id, version, deleted, first_seen, last_seen, hostnames, vendor, kinds, ips, macs,
serials, agents, observers, methods, subnets, switch_ports, anonymous, observations, identifiers, evidence)`, rows)
}

// livePage picks the n open findings of a kind seen last, and how many are
// open, from this process's state of the database; ok is false when it has
// none or a run holds it.
func (e *Engine) livePage(kind string, n int) (ids []string, total uint64, ok bool) {
	if !runMu.TryLock() {
		return nil, 0, false
	}
	defer runMu.Unlock()
	v, found := lives.Load(e.db)
	if !found {
		return nil, 0, false
	}
	type cand struct {
		id string
		at time.Time
	}
	var top []cand
	for id, m := range v.(*live).open {
		if m.kind != kind || m.state != StateOpen {
			continue
		}
		total++
		c := cand{id, m.lastSeen}
		i := sort.Search(len(top), func(i int) bool {
			return top[i].at.Before(c.at) || top[i].at.Equal(c.at) && top[i].id > c.id
		})
		if i < n {
			top = slices.Insert(top, i, c)
			if len(top) > n {
				top = top[:n]
			}
		}
	}
	for _, c := range top {
		ids = append(ids, c.id)
	}
	return ids, total, true
}
