package reconcile

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/umbrasec/umbra/collector/internal/registry"
	"github.com/umbrasec/umbra/collector/internal/store"
)

// live is what the engines of one process keep of a database between runs:
// the identifier graph, the watermark of what it applied, and what it knows
// of the stored findings and of which device matches which asset key.
type live struct {
	inc       *Incremental
	splitsKey string
	watermark time.Time        // the latest received_at applied
	tail      map[int64]uint64 // feed rows seen by second of arrival in the overlap before the watermark; nil: unknown
	done      map[string]bool  // report ids applied (a retried report is stored twice)

	open    metas               // every stored finding's latest state, by id
	nOpen   int                 // how many of them are open
	other   map[string]bool     // the open findings about software or a rule (neither a device nor an asset)
	shadow  *shadowIndex        // the open unregistered-device findings in report order
	keys    map[string][]string // device id -> its asset match keys
	parts   map[string][]uint64 // device id -> the hashes of its parts in device_parts, sorted
	byKey   keyIndex            // asset match key -> device ids
	matched map[string]Device   // devices an asset matched at its last judgement, as last built

	reg *registerState // the register as the last run judged it
}

// lives holds one live state per database handle. Runs take turns (runMu).
var lives sync.Map // *store.DB -> *live

// overlap is how far before its watermark a run looks again, for rows whose
// insert finished after a later row was read (received_at is stamped before
// the insert) or that another collector stamped with a lagging clock.
const overlap = 30 * time.Second

// keyPart is one kind of asset match key: its prefix and the device's
// values.
type keyPart struct {
	prefix string
	vs     []string
}

// keyParts are the kinds of key an asset may match d by, in order: "s:"
// serial, "m:" MAC, "h:" hostname.
func keyParts(d *Device) [3]keyPart {
	return [3]keyPart{{"s:", d.Serials}, {"m:", d.MACs}, {"h:", d.Hostnames}}
}

// matchKeys are d's keys (keyParts): substrings of one string, so a
// device's keys are two objects for the garbage collector, whatever their
// number.
func matchKeys(d *Device) []string {
	parts := keyParts(d)
	n, count := 0, 0
	for _, p := range parts {
		for _, v := range p.vs {
			n += len(p.prefix) + len(v)
			count++
		}
	}
	if count == 0 {
		return nil
	}
	var b strings.Builder
	b.Grow(n)
	ends := make([]int, 0, count)
	for _, p := range parts {
		for _, v := range p.vs {
			b.WriteString(p.prefix)
			b.WriteString(v)
			ends = append(ends, b.Len())
		}
	}
	all, ks, at := b.String(), make([]string, 0, count), 0
	for _, end := range ends {
		ks = append(ks, all[at:end])
		at = end
	}
	return ks
}

// keyIndex holds the devices that have each asset match key, sorted: most
// keys have one, kept without a list.
type keyIndex struct {
	one  map[string]string
	many map[string][]string
}

func newKeyIndex() keyIndex { return keyIndex{one: map[string]string{}, many: map[string][]string{}} }

// each calls f with the devices that have k.
func (x keyIndex) each(k string, f func(id string)) {
	if id, ok := x.one[k]; ok {
		f(id)
		return
	}
	for _, id := range x.many[k] {
		f(id)
	}
}

func (x keyIndex) add(k, id string) {
	if o, ok := x.one[k]; ok {
		if o != id {
			delete(x.one, k)
			x.many[k] = []string{min(o, id), max(o, id)}
		}
		return
	}
	ids, ok := x.many[k]
	if !ok {
		x.one[k] = id
		return
	}
	if i, found := slices.BinarySearch(ids, id); !found {
		x.many[k] = slices.Insert(ids, i, id)
	}
}

func (x keyIndex) remove(k, id string) {
	if o, ok := x.one[k]; ok {
		if o == id {
			delete(x.one, k)
		}
		return
	}
	ids := slices.DeleteFunc(x.many[k], func(y string) bool { return y == id })
	switch len(ids) {
	case 0:
		delete(x.many, k)
	case 1:
		delete(x.many, k)
		x.one[k] = ids[0]
	default:
		x.many[k] = ids
	}
}

// sameKeys reports whether ks are matchKeys(d), without making them.
func sameKeys(ks []string, d *Device) bool {
	i := 0
	for _, p := range keyParts(d) {
		for _, v := range p.vs {
			if i == len(ks) || len(ks[i]) != len(p.prefix)+len(v) || !strings.HasPrefix(ks[i], p.prefix) || ks[i][len(p.prefix):] != v {
				return false
			}
			i++
		}
	}
	return i == len(ks)
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
		l.byKey.remove(k, id)
	}
	delete(l.keys, id)
	delete(l.matched, id)
}

func (l *live) index(d *Device) {
	ks := matchKeys(d)
	l.keys[d.ID] = ks
	for _, k := range ks {
		l.byKey.add(k, d.ID)
	}
}

// reindex indexes a changed device anew. Most changes are new sightings of
// the same device: its keys, and so the index, then stay as they were.
func (l *live) reindex(d *Device) {
	if ks, ok := l.keys[d.ID]; ok && sameKeys(ks, d) {
		delete(l.matched, d.ID)
		return
	}
	l.unindex(d.ID)
	l.index(d)
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
	perSec   map[int64]uint64 // feed rows read (applied or skipped) by second of arrival
}

// scanFeed reads one row of feedColumns.
func scanFeed(rows driver.Rows) (o Observation, rep string, idx uint32, recv time.Time, err error) {
	var ek, ev []string
	if err = rows.Scan(&recv, &o.At, &o.Observer, &o.Method, &o.IP, &o.MAC, &o.Hostname, &o.Vendor, &o.Serial, &o.Via, &o.Port, &o.Kinds, &rep, &idx, &ek, &ev); err != nil {
		return o, rep, idx, recv, err
	}
	o.ClientID = clientID(ek, ev)
	o.Ref = obsRef(rep, idx)
	return o, rep, idx, recv, nil
}

// obsRef names where an observation is stored: its report and index.
func obsRef(rep string, idx uint32) string { return rep + "#" + strconv.FormatUint(uint64(idx), 10) }

type rowKey struct {
	rep string
	idx uint32
}

// readFeed reads the observations of query (over feedColumns) of reports
// not in skip, each (report, index) once, into b.
func (e *Engine) readFeed(ctx context.Context, b *batch, what, query string, skip map[string]bool, args ...any) error {
	seen := map[rowKey]bool{}
	return e.db.QueryEach(ctx, what, query, func(rows driver.Rows) error {
		o, rep, idx, recv, err := scanFeed(rows)
		if err != nil {
			return err
		}
		if b.perSec != nil {
			b.perSec[recv.Unix()]++
		}
		if skip[rep] || seen[rowKey{rep, idx}] {
			return nil
		}
		seen[rowKey{rep, idx}] = true
		b.reports[rep] = true
		b.latest = later(b.latest, recv)
		b.obs = append(b.obs, o)
		return nil
	}, args...)
}

// window is the condition and arguments of received_at in [from, to) (to
// zero: no end). An open window binds its start twice: the driver cannot
// bind a DateTime near its end of range.
func window(from, to time.Time) (string, []any) {
	if to.IsZero() {
		return "received_at >= ? AND received_at >= ?", []any{dbTime(from), dbTime(from)}
	}
	return "received_at >= ? AND received_at < ?", []any{dbTime(from), dbTime(to)}
}

// read reads the observations received since feedFrom and the
// inventories received since from, of reports not in skip.
func (e *Engine) read(ctx context.Context, feedFrom, from time.Time, skip map[string]bool) (*batch, error) {
	b := &batch{reports: map[string]bool{}, perSec: map[int64]uint64{}}
	cond, args := window(feedFrom, time.Time{})
	if err := e.readFeed(ctx, b, "new observations", "SELECT "+feedColumns+" FROM observation_feed WHERE "+cond, skip, args...); err != nil {
		return nil, err
	}
	return b, e.readInventories(ctx, b, from, time.Time{}, skip)
}

// tailSettled says whether the feed holds, in the last overlap before
// the watermark, exactly the rows a read saw there: then no row was
// inserted late, and a run need read only what arrived after the
// watermark instead of reading the overlap again to skip it.
func (e *Engine) tailSettled(ctx context.Context, l *live) (bool, error) {
	if l.tail == nil {
		return false, nil
	}
	n := 0
	ok := true
	err := e.db.QueryEach(ctx, "the feed's last overlap", `SELECT toUInt32(received_at), count() FROM observation_feed
WHERE received_at >= ? AND received_at <= ? GROUP BY received_at`, func(rows driver.Rows) error {
		var sec uint32
		var c uint64
		if err := rows.Scan(&sec, &c); err != nil {
			return err
		}
		n++
		ok = ok && l.tail[int64(sec)] == c
		return nil
	}, dbTime(l.watermark.Add(-overlap)), dbTime(l.watermark))
	return ok && n == len(l.tail), err
}

// noteTail keeps the rows seen by second of arrival over the last overlap
// before the watermark.
func (l *live) noteTail(perSec map[int64]uint64) {
	if l.tail == nil {
		l.tail = map[int64]uint64{}
	}
	for sec, n := range perSec {
		l.tail[sec] += n
	}
	floor := l.watermark.Add(-overlap).Unix()
	for sec := range l.tail {
		if sec < floor || sec > l.watermark.Unix() {
			delete(l.tail, sec)
		}
	}
}

// readInventories adds the inventories received in [from, to) of reports
// not in skip or b to b, with their identity and interfaces.
func (e *Engine) readInventories(ctx context.Context, b *batch, from, to time.Time, skip map[string]bool) error {
	var invs []Observation
	var reps []string
	cond, args := window(from, to)
	err := e.db.QueryEach(ctx, "new inventories", `SELECT agent_id, report_id, collected_at, host_id, hostname, received_at FROM inventories FINAL
WHERE `+cond, func(rows driver.Rows) error {
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
	}, args...)
	if err != nil || len(invs) == 0 {
		return err
	}
	if len(reps) > inChunk {
		reps = nil // every report's: a query's text is bounded
	}
	det, err := e.inventoryDetails(ctx, reps)
	if err != nil {
		return err
	}
	for _, o := range invs {
		det.fill(&o, strings.TrimPrefix(o.Ref, "inventory:"))
		b.obs = append(b.obs, o)
	}
	b.prefixes = det.subnets()
	return nil
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

// aggKey is what the build groups the observation feed by: everything
// Apply reads of an observation but its time and place.
const aggKey = `observer, method, ip, mac, hostname, vendor, serial, via, port, kinds, evidence_keys, evidence_values`

// aggChunk bounds the aggregates a build applies at once.
const aggChunk = 500_000

// rebuild builds the graph from every stored observation. ClickHouse
// aggregates the observation feed (GROUP BY everything but time and place:
// a host seen by ARP a thousand times is one row with a count, a first and
// a last time), so the build costs the distinct observations, not every
// one. What depends on each observation's time is kept exact: reports
// stored twice are read one by one and counted once, and the IPs with both
// observations that held them and observations with only them are read
// back one by one (expand).
func (e *Engine) rebuild(ctx context.Context, splits []Split) (*live, int, error) {
	l := &live{inc: NewIncremental(splits), splitsKey: splitsKey(splits), done: map[string]bool{}, parts: map[string][]uint64{},
		keys: map[string][]string{}, byKey: newKeyIndex(), matched: map[string]Device{}, other: map[string]bool{}, shadow: newShadowIndex()}
	l.inc.lazy = true
	spans, err := e.agentSpans(ctx)
	if err != nil {
		return nil, 0, err
	}
	for id, sp := range spans {
		l.inc.g.span[id] = sp
	}
	// Every report of the feed; those whose rows outnumber their indexes
	// were stored more than once.
	var last time.Time
	type rep struct {
		first, last time.Time
		dup         bool
	}
	reps := map[string]rep{}
	// The build's queries group and sort on disk what outgrows 1 GB, and
	// may take longer than the driver's read timeout (a query's whole
	// answer must arrive within it unless the context has a deadline).
	big, cancel := context.WithTimeout(store.Spilling(ctx, 1<<30), 6*time.Hour)
	defer cancel()
	err = e.db.QueryEach(big, "feed reports", `SELECT report_id, min(received_at), max(received_at), count() > uniqExact(idx) FROM observation_feed GROUP BY report_id`, func(rows driver.Rows) error {
		var id string
		var r rep
		if err := rows.Scan(&id, &r.first, &r.last, &r.dup); err != nil {
			return err
		}
		reps[id] = r
		last = later(last, r.last)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	// A report stored twice, or on both sides of the cut (the last
	// overlap), is read one by one.
	cut := time.Unix(0, 0).UTC()
	if !last.IsZero() {
		cut = later(cut, last.Add(-overlap))
	}
	var dups []string
	for id, r := range reps {
		if r.first.Before(cut) {
			l.done[id] = true
			if r.dup || !r.last.Before(cut) {
				dups = append(dups, id)
			}
		}
	}
	reps = nil
	extra := &batch{reports: map[string]bool{}}
	for i := 0; i < len(dups); i += inChunk {
		part := dups[i:min(len(dups), i+inChunk)]
		if err := e.readFeed(ctx, extra, "reports stored twice", "SELECT "+feedColumns+" FROM observation_feed WHERE report_id IN (SELECT arrayJoin(?))", nil, part); err != nil {
			return nil, 0, err
		}
	}
	if err := e.readInventories(ctx, extra, time.Unix(0, 0), time.Time{}, nil); err != nil {
		return nil, 0, err
	}
	for r := range extra.reports {
		l.done[r] = true
	}
	l.watermark = later(l.watermark, extra.latest)
	l.inc.AddSubnets(extra.prefixes)
	slices.SortFunc(extra.obs, func(a, b Observation) int { return a.At.Compare(b.At) })
	var chunk []Observation
	apply := func() error {
		// The inventories and reports read one by one take their place
		// in time among the aggregates.
		n := len(extra.obs)
		if len(chunk) >= aggChunk {
			end := chunk[len(chunk)-1].since()
			n, _ = slices.BinarySearchFunc(extra.obs, end, func(o Observation, t time.Time) int { return o.At.Compare(t) })
		}
		chunk = append(chunk, extra.obs[:n]...)
		extra.obs = extra.obs[n:]
		if !l.inc.Apply(chunk) {
			return fmt.Errorf("rebuilding the identifier graph: agent lifetimes changed while reading (retry)")
		}
		e.log.Debug("rebuild applied", "observations", l.inc.Observations(), "nodes", len(l.inc.nodes))
		chunk = chunk[:0]
		return nil
	}
	// Before the cut, the reports are known (done); after it, the query
	// says which reports it read, and counts each (report, index) once: a
	// run reads from there again and must skip exactly those.
	perSec := map[int64]uint64{}
	// The aggregates repeat their observers, methods, addresses, names,
	// vendors, ports and kinds row after row, each a new string: the graph
	// keeps one of each instead, for as long as it lives, and a collection
	// marks every string it holds one by one.
	names := interner{}
	for _, tail := range []bool{false, true} {
		cond, args := window(time.Unix(0, 0), cut)
		count, reports := "count()", "CAST([] AS Array(String))"
		if tail {
			cond, args = window(cut, time.Time{})
			count, reports = "uniqExact(report_id, idx)", "groupUniqArray(report_id)"
			// What the feed holds there before this reads it (rows
			// inserted meanwhile make the next run read the overlap again).
			err = e.db.QueryEach(ctx, "the feed's last overlap", `SELECT toUInt32(received_at), count() FROM observation_feed WHERE `+cond+
				` GROUP BY received_at`, func(rows driver.Rows) error {
				var sec uint32
				var c uint64
				err := rows.Scan(&sec, &c)
				perSec[int64(sec)] = c
				return err
			}, args...)
			if err != nil {
				return nil, 0, err
			}
		}
		if len(dups) > 0 {
			// Few: a retry after a crash between the write and the answer.
			cond += " AND report_id NOT IN (SELECT arrayJoin(?))"
			args = append(args, dups)
		}
		err = e.db.QueryEach(big, "aggregated observations", `SELECT `+aggKey+`, `+count+`, min(observed_at) AS since, max(observed_at),
max(concat(toString(toUInt32(observed_at)), '|', report_id, '#', toString(idx))), max(received_at), `+reports+`
FROM observation_feed WHERE `+cond+` GROUP BY `+aggKey+` ORDER BY since`, func(rows driver.Rows) error {
			var o Observation
			var ek, ev, reps []string
			var n uint64
			var recv time.Time
			if err := rows.Scan(&o.Observer, &o.Method, &o.IP, &o.MAC, &o.Hostname, &o.Vendor, &o.Serial, &o.Via, &o.Port, &o.Kinds, &ek, &ev,
				&n, &o.Since, &o.At, &o.Ref, &recv, &reps); err != nil {
				return err
			}
			o.ClientID = clientID(ek, ev)
			o.Count = int(n)
			_, o.Ref, _ = strings.Cut(o.Ref, "|")
			names.observation(&o)
			l.watermark = later(l.watermark, recv)
			for _, r := range reps {
				l.done[r] = true
			}
			chunk = append(chunk, o)
			if len(chunk) >= aggChunk {
				return apply()
			}
			return nil
		}, args...)
		if err != nil {
			return nil, 0, err
		}
	}
	if err := apply(); err != nil {
		return nil, 0, err
	}
	l.noteTail(perSec)
	if err := e.expand(ctx, l); err != nil {
		return nil, 0, err
	}
	l.open = newMetas()
	err = e.findingMetas(ctx, l.setMeta)
	return l, l.inc.Observations(), err
}

// interner hands out one copy of each string it is given.
type interner map[string]string

func (in interner) str(s string) string {
	if v, ok := in[s]; ok {
		return v
	}
	in[s] = s
	return s
}

// observation shares o's repeated strings with the observations before it.
func (in interner) observation(o *Observation) {
	for _, p := range [...]*string{&o.Observer, &o.Method, &o.IP, &o.Hostname, &o.Vendor, &o.Via, &o.Port} {
		*p = in.str(*p)
	}
	for i, k := range o.Kinds {
		o.Kinds[i] = in.str(k)
	}
}

// inChunk bounds the values bound into one IN (…) (a query's text is
// limited to 256 KiB by default).
const inChunk = 5000

// expand reads back one by one the observations of every IP that now has
// both observations that held it and observations with only it, and makes
// it exact (Incremental.Expand).
func (e *Engine) expand(ctx context.Context, l *live) error {
	ips := l.inc.Mixed()
	for i := 0; i < len(ips); i += inChunk {
		part := ips[i:min(len(ips), i+inChunk)]
		b := &batch{reports: map[string]bool{}}
		// With the other interfaces of a device that answered SNMP there,
		// which Apply folded into its observation.
		if err := e.readFeed(ctx, b, "observations of mixed addresses", "SELECT "+feedColumns+` FROM observation_feed
WHERE ip IN (SELECT arrayJoin(?)) OR method = 'snmp' AND via IN (SELECT arrayJoin(?))`, nil, part, part); err != nil {
			return err
		}
		byIP := map[string][]Observation{}
		for _, o := range b.obs {
			// Only what was applied: a report that arrived since is
			// applied, on an exact IP, by the next run.
			if rep, _, _ := strings.Cut(o.Ref, "#"); l.done[rep] {
				byIP[o.IP] = append(byIP[o.IP], o)
				if o.Method == "snmp" && o.Via != "" && o.Via != o.IP {
					byIP[o.Via] = append(byIP[o.Via], o)
				}
			}
		}
		for _, ip := range part {
			l.inc.Expand(ip, byIP[ip])
		}
	}
	if len(ips) > 0 {
		e.log.Debug("expanded addresses", "ips", len(ips))
	}
	return nil
}

// findingMetas reads the latest state of every stored finding.
func (e *Engine) findingMetas(ctx context.Context, set func(id string, m findingMeta)) error {
	return e.db.QueryEach(ctx, "findings", `SELECT finding_id, kind, subject, digest, state, opened_at, last_seen FROM findings FINAL`, func(rows driver.Rows) error {
		var id, kind, subject, digest, state string
		var openedAt, lastSeen time.Time
		if err := rows.Scan(&id, &kind, &subject, &digest, &state, &openedAt, &lastSeen); err != nil {
			return err
		}
		set(id, newMeta(kind, subject, digest, state, fromDB(openedAt), fromDB(lastSeen)))
		return nil
	})
}

// setMeta records the latest state of a finding and keeps the counts and
// indexes that let a run or a page avoid visiting every finding.
func (l *live) setMeta(id string, m findingMeta) {
	if o, ok := l.open.get(id); ok && o.open {
		l.nOpen--
	}
	if m.open {
		l.nOpen++
	}
	l.open.set(id, m)
	if m.other {
		if m.open {
			l.other[id] = true
		} else {
			delete(l.other, id)
		}
	}
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
	in := e.fetchJudgeInputs(ctx)
	defer in.wait()
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
		from := l.watermark.Add(-overlap)
		feedFrom := from
		settled, err := e.tailSettled(ctx, l)
		if err != nil {
			return st, err
		}
		if settled {
			feedFrom = l.watermark.Add(time.Second)
		} else {
			l.tail = nil // read again: what is read is counted anew
		}
		b, err := e.read(ctx, feedFrom, from, l.done)
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
			l.noteTail(b.perSec)
			if err := e.expand(ctx, l); err != nil {
				lives.Delete(e.db)
				return st, err
			}
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
	gen := e.version()
	// The devices are written as they are built, and while the findings
	// are judged: ClickHouse takes the inserts on one processor while this
	// one works, and a build of every device never holds them all whole.
	batches := make(chan deviceBatch, 1)
	stored := make(chan error, 1)
	full := st.Full
	go func() {
		var err error
		for b := range batches {
			if err == nil {
				err = b.devices.insert(ctx, e.db)
			}
			if err == nil {
				err = b.parts.insert(ctx, e.db)
			}
		}
		if err == nil && full {
			err = e.db.Exec(ctx, stalePartsDeleted, gen, gen)
		}
		stored <- err
	}()
	pw := &partWriter{gen: gen}
	changed, gone := l.inc.ChangesEach(deviceChunk, func(ds []Device) {
		batches <- deviceBatch{deviceRows(gen, ds), l.partRows(pw, ds)}
	})
	batches <- deviceBatch{goneRows(gen, gone), l.goneParts(gen, gone)}
	close(batches)
	tChanges := time.Since(clock)
	st.Generation, st.Observations, st.Devices = gen, l.inc.Observations(), len(l.inc.rootOf)
	// Changes has handed over what changed: if storing it fails, the next
	// run rebuilds rather than forget it.
	lives.Store(e.db, l)
	tDevices := time.Since(clock)
	// The asset match keys the changes touched: before and after.
	touched := map[string]bool{}
	for _, id := range gone {
		for _, k := range l.keys[id] {
			touched[k] = true
		}
		l.unindex(id)
	}
	for i := range changed {
		d := &changed[i]
		for _, k := range l.keys[d.ID] {
			touched[k] = true
		}
		l.reindex(d)
		for _, k := range l.keys[d.ID] {
			touched[k] = true
		}
	}
	err = e.findingsOf(ctx, l, in, changed, gone, touched, st.Full, start, &st)
	if serr := <-stored; err == nil {
		err = serr
	}
	if err != nil {
		lives.Delete(e.db)
		return st, err
	}
	if err := e.db.InsertRows(ctx, "INSERT INTO reconcile_runs (generation, started_at, finished_at, observations, devices, findings_open, trigger)",
		[][]any{{gen, dbTime(start), dbTime(e.now()), uint64(st.Observations), uint64(st.Devices), uint64(st.Open), trigger}}); err != nil {
		return st, err
	}
	if st.Full {
		// A build leaves behind about as much garbage as the state it
		// built (at 100 M observations, some 8 GB) and would bring the
		// next collection, over the whole state, into the runs that
		// follow: collect it now. The memory is kept, not given back to
		// the system: the runs that follow allocate in it, and memory
		// the process touches for the first time costs a page fault per
		// 4 KiB (on a virtual machine, about as much as the run's work;
		// see README). The Go runtime gives back what stays unused.
		runtime.GC()
	}
	st.DurationMS = time.Since(clock).Milliseconds()
	e.log.Debug("reconcile phases", "read_apply_seconds", tApply.Seconds(), "devices_built_seconds", (tChanges - tApply).Seconds(),
		"findings_and_devices_stored_seconds", time.Since(clock).Seconds()-tDevices.Seconds())
	e.log.Info("reconciled", "trigger", trigger, "full", st.Full, "new_observations", st.New, "observations", st.Observations, "devices", st.Devices,
		"devices_changed", len(changed), "devices_gone", len(gone), "findings_open", st.Open, "opened", st.Opened, "resolved", st.Resolved,
		"duration_seconds", float64(st.DurationMS)/1000)
	return st, nil
}

// deviceChunk is how many devices a run builds and writes at once.
const deviceChunk = 50_000

const deviceInsert = `INSERT INTO device_current (device_id, version, deleted, first_seen, last_seen, hostnames, vendor, kinds, ips, macs,
serials, agents, observers, methods, subnets, switch_ports, anonymous, observations, identifiers, evidence)`

// deviceBatch is what a run writes of some devices: their device_current
// and device_parts rows.
type deviceBatch struct {
	devices *deviceCols
	parts   *partCols
}

// deviceCols are device_current rows, column by column (deviceInsert's
// order): one typed slice a column, appended whole, instead of a []any per
// row that the driver converts value by value. The identifiers and
// evidence columns stay empty: they are in device_parts.
type deviceCols struct {
	ids, vendor, empty []string
	vers, obs          []uint64
	del, anon          []uint8
	first, last        []time.Time
	hostnames, kinds   [][]string
	ips, macs, serials [][]string
	agents, observers  [][]string
	methods, subs      [][]string
	ports              [][]string
}

func (c *deviceCols) add(gen uint64, del uint8, d *Device) {
	c.ids, c.vers, c.del = append(c.ids, d.ID), append(c.vers, gen), append(c.del, del)
	c.first, c.last = append(c.first, dbTime(d.FirstSeen)), append(c.last, dbTime(d.LastSeen))
	c.hostnames, c.vendor, c.kinds = append(c.hostnames, nn(d.Hostnames)), append(c.vendor, d.Vendor), append(c.kinds, nn(d.Kinds))
	c.ips, c.macs, c.serials = append(c.ips, nn(d.IPs)), append(c.macs, nn(d.MACs)), append(c.serials, nn(d.Serials))
	c.agents, c.observers, c.methods = append(c.agents, nn(d.Agents)), append(c.observers, nn(d.Observers)), append(c.methods, nn(d.Methods))
	c.subs, c.ports = append(c.subs, nn(d.Subnets)), append(c.ports, nn(d.SwitchPorts))
	c.anon, c.obs, c.empty = append(c.anon, boolU8(d.Anonymous)), append(c.obs, uint64(d.Observations)), append(c.empty, "")
}

// insert writes the rows.
func (c *deviceCols) insert(ctx context.Context, db *store.DB) error {
	return db.InsertColumns(ctx, deviceInsert, len(c.ids), c.ids, c.vers, c.del, c.first, c.last, c.hostnames, c.vendor, c.kinds, c.ips, c.macs,
		c.serials, c.agents, c.observers, c.methods, c.subs, c.ports, c.anon, c.obs, c.empty, c.empty)
}

// deviceRows are the rows of devices that changed.
func deviceRows(gen uint64, ds []Device) *deviceCols {
	c := &deviceCols{}
	for i := range ds {
		c.add(gen, 0, &ds[i])
	}
	return c
}

// goneRows mark devices gone (merged into others).
func goneRows(gen uint64, gone []string) *deviceCols {
	c := &deviceCols{}
	for _, id := range gone {
		c.add(gen, 1, &Device{ID: id})
	}
	return c
}
