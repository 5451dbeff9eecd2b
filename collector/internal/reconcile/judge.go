package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/umbrasec/umbra/collector/internal/registry"
	"github.com/umbrasec/umbra/collector/internal/store"
)

// This file decides which findings a run judges again. A finding about a
// device depends on the device and on the assets that could claim it; a
// finding about an asset on the asset, the devices it could match, the time
// and the agents' heartbeats; a finding about software or a rule on the
// software and the rules. So a run judges: the devices that changed, the
// assets whose match keys (serial, MACs, hostname) those devices had or
// have, the devices those assets could match, and so on until nothing is
// added (a closure over shared keys: Match then sees every candidate it
// would see among all devices); the assets the register changed; the
// assets whose time- or heartbeat-dependent findings (missing-asset,
// unmanaged-asset) would now change; and all software and rules. Every
// other finding is what a full judgement would give again
// (TestIncrementalRunsEqualFullRecompute holds it).

// registerState is the register as the last run judged it.
type registerState struct {
	fp     string
	assets []registry.Asset
	byID   map[string]int
	byKey  map[string][]int     // match key -> the assets (not planned or ordered) that have it
	fids   map[string][3]string // asset id -> its missing, unmanaged and retired finding ids
	dev    map[string]string    // asset id -> the device it matched at its last judgement ("": none)
}

func judgedAsset(a *registry.Asset) bool {
	return a.Lifecycle != registry.Planned && a.Lifecycle != registry.Ordered
}

// judgeInputs is what judging reads beside the devices: a fingerprint of
// the register, the software, the rules and the heartbeats. A run reads
// them while it reads and applies the observations (small queries, each a
// round trip to ClickHouse).
type judgeInputs struct {
	done     chan struct{}
	fp       string
	software []Software
	rules    []Rule
	contact  map[string]time.Time
	acks     map[string]*Ack // the current acknowledgements, by finding
	hbErr    error           // heartbeats are optional: judged without them
	err      error
}

func (e *Engine) fetchJudgeInputs(ctx context.Context) *judgeInputs {
	in := &judgeInputs{done: make(chan struct{})}
	go func() {
		defer close(in.done)
		var wg sync.WaitGroup
		var errFP, errSW, errRules, errAcks error
		wg.Add(5)
		go func() {
			defer wg.Done()
			in.acks = map[string]*Ack{}
			errAcks = e.db.QueryEach(ctx, "finding acknowledgements", "SELECT finding_id, reason, acked_by, acked_at, until FROM finding_acks FINAL WHERE cleared = 0",
				func(rows driver.Rows) error {
					var id string
					var a Ack
					if err := rows.Scan(&id, &a.Reason, &a.By, &a.At, &a.Until); err != nil {
						return err
					}
					a.At, a.Until = fromDB(a.At), fromDB(a.Until)
					in.acks[id] = &a
					return nil
				})
		}()
		go func() {
			defer wg.Done()
			var n, v uint64
			errFP = e.db.QueryEach(ctx, "register fingerprint", "SELECT count(), max(version) FROM assets", func(rows driver.Rows) error {
				return rows.Scan(&n, &v)
			})
			in.fp = fmt.Sprint(n, "/", v)
		}()
		go func() {
			defer wg.Done()
			var sw []store.SoftwareInstall
			if sw, errSW = e.db.SoftwareInstalls(ctx); errSW == nil {
				for _, s := range sw {
					in.software = append(in.software, Software{Name: s.Name, Source: s.Source, Publishers: s.Publishers, Versions: s.Versions, Agents: s.Agents, Installs: int(s.Installs)})
				}
			}
		}()
		go func() {
			defer wg.Done()
			in.rules, errRules = e.Rules(ctx)
		}()
		go func() {
			defer wg.Done()
			hbs, err := e.db.LastHeartbeats(ctx)
			if err != nil {
				in.hbErr = err
				return
			}
			in.contact = make(map[string]time.Time, len(hbs))
			for id, hb := range hbs {
				in.contact[id] = hb.ReceivedAt
			}
		}()
		wg.Wait()
		in.err = errors.Join(errFP, errSW, errRules, errAcks)
	}()
	return in
}

// wait waits for the inputs; it may be called more than once.
func (in *judgeInputs) wait() *judgeInputs {
	<-in.done
	return in
}

// loadRegister reads the register when it changed since the last run
// (the fingerprint says so) and returns the ids of the assets that
// changed, appeared or went.
func (e *Engine) loadRegister(ctx context.Context, l *live, fp string) (changed map[string]bool, gone []registry.Asset, err error) {
	if l.reg != nil && l.reg.fp == fp {
		return nil, nil, nil
	}
	assets, err := e.reg.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	r := &registerState{fp: fp, assets: assets, byID: make(map[string]int, len(assets)), byKey: map[string][]int{},
		fids: make(map[string][3]string, len(assets)), dev: map[string]string{}}
	changed = map[string]bool{}
	for i := range assets {
		a := &assets[i]
		r.byID[a.ID] = i
		s := "asset:" + a.ID
		r.fids[a.ID] = [3]string{FindingID(KindMissingAsset, s), FindingID(KindUnmanagedAsset, s), FindingID(KindRetiredAssetSeen, s)}
		if judgedAsset(a) {
			for _, k := range assetKeys(*a) {
				r.byKey[k] = append(r.byKey[k], i)
			}
		}
		if l.reg == nil {
			continue
		}
		j, ok := l.reg.byID[a.ID]
		if ok && reflect.DeepEqual(l.reg.assets[j], *a) {
			if d, ok := l.reg.dev[a.ID]; ok {
				r.dev[a.ID] = d
			}
			continue
		}
		changed[a.ID] = true
		if ok {
			gone = append(gone, l.reg.assets[j]) // its old keys
		}
	}
	if l.reg != nil {
		for _, a := range l.reg.assets {
			if _, ok := r.byID[a.ID]; !ok {
				gone = append(gone, a)
				changed[a.ID] = true
			}
		}
	}
	l.reg = r
	return changed, gone, nil
}

// findingsOf judges again what the changed devices, the register, the time
// and the heartbeats may have changed (all of it after a rebuild), and
// stores the differences. touched holds the match keys the changed and
// gone devices had before and have now.
func (e *Engine) findingsOf(ctx context.Context, l *live, in *judgeInputs, changed []Device, gone []string, touched map[string]bool, full bool, now time.Time, st *RunStats) error {
	if in.wait().err != nil {
		return in.err
	}
	if full {
		l.reg = nil
	}
	changedAssets, oldAssets, err := e.loadRegister(ctx, l, in.fp)
	if err != nil {
		return err
	}
	software, rules := in.software, in.rules
	pol := e.policy
	pol.Now = now
	if in.hbErr != nil {
		e.log.Warn("reading heartbeats; agents are judged by their reports alone", "error", in.hbErr)
	} else {
		pol.AgentContact = in.contact
	}
	reg := l.reg
	devSet := make(map[string]Device, len(changed))
	for _, d := range changed {
		devSet[d.ID] = d
	}
	inAssets := map[int]bool{}
	if full {
		for i := range reg.assets {
			inAssets[i] = true
		}
	} else {
		var queue []string
		seen := map[string]bool{}
		push := func(k string) {
			if !seen[k] {
				seen[k] = true
				queue = append(queue, k)
			}
		}
		addAsset := func(i int) {
			if inAssets[i] {
				return
			}
			inAssets[i] = true
			for _, k := range assetKeys(reg.assets[i]) {
				push(k)
			}
		}
		addDevice := func(id string) {
			if _, ok := devSet[id]; ok {
				return
			}
			d, ok := l.matched[id]
			if !ok {
				if d, ok = l.inc.Device(id); !ok {
					return
				}
			}
			devSet[id] = d
			for _, k := range l.keys[id] {
				push(k)
			}
		}
		for k := range touched {
			push(k)
		}
		for _, a := range oldAssets {
			for _, k := range assetKeys(a) {
				push(k)
			}
		}
		for id := range changedAssets {
			if i, ok := reg.byID[id]; ok {
				addAsset(i)
			}
		}
		// Findings that time or a heartbeat changes, of assets whose
		// match did not change.
		for i := range reg.assets {
			a := &reg.assets[i]
			if inAssets[i] || a.Lifecycle != registry.Deployed && a.Lifecycle != registry.Maintenance {
				continue
			}
			var d *Device
			if id := reg.dev[a.ID]; id != "" {
				x, ok := l.matched[id]
				if !ok {
					addAsset(i)
					continue
				}
				d = &x
			} else if _, judged := reg.dev[a.ID]; !judged {
				addAsset(i)
				continue
			}
			missing := a.Lifecycle == registry.Deployed && (d == nil && now.Sub(a.CreatedAt) > pol.MissingAfter || d != nil && now.Sub(d.LastSeen) > pol.MissingAfter)
			unmanaged := a.ExpectAgent && d != nil && (len(d.Agents) == 0 || now.Sub(lastAgent(d, pol.AgentContact)) > pol.AgentSilentAfter)
			ids := reg.fids[a.ID]
			if missing != l.isOpen(ids[0]) || unmanaged != l.isOpen(ids[1]) {
				addAsset(i)
			}
		}
		for len(queue) > 0 {
			k := queue[len(queue)-1]
			queue = queue[:len(queue)-1]
			as := reg.byKey[k]
			for _, i := range as {
				addAsset(i)
			}
			if len(as) > 0 {
				l.byKey.each(k, addDevice)
			}
		}
	}
	devs := make([]Device, 0, len(devSet))
	for _, id := range slices.Sorted(maps.Keys(devSet)) {
		devs = append(devs, devSet[id])
	}
	assets := make([]registry.Asset, 0, len(inAssets))
	for i := range reg.assets {
		if inAssets[i] {
			assets = append(assets, reg.assets[i])
		}
	}
	idx := indexFor(devs, assets)
	fs := findings(devs, idx, assets, software, rules, pol)
	e.log.Debug("judged", "devices", len(devs), "assets", len(assets), "assets_changed", len(changedAssets), "assets_old", len(oldAssets), "findings", len(fs))
	// What each judged asset matched, for the next runs' checks of time.
	for _, a := range assets {
		if !judgedAsset(&a) {
			delete(reg.dev, a.ID)
			continue
		}
		d, _ := idx.match(a)
		if d == nil {
			reg.dev[a.ID] = ""
			continue
		}
		reg.dev[a.ID] = d.ID
		l.matched[d.ID] = *d
	}
	// The findings judged: those of the devices and assets above, of the
	// devices and assets gone, and every one about software or a rule.
	var judged []string
	if full {
		judged = make([]string, 0, l.open.len())
		l.open.each(func(id string, _ findingMeta) { judged = append(judged, id) })
	} else {
		for id := range devSet {
			judged = append(judged, FindingID(KindUnregisteredDevice, "device:"+id), FindingID(KindUnregisteredAgent, "device:"+id))
		}
		for _, id := range gone {
			judged = append(judged, FindingID(KindUnregisteredDevice, "device:"+id), FindingID(KindUnregisteredAgent, "device:"+id))
		}
		for _, a := range assets {
			ids := reg.fids[a.ID]
			judged = append(judged, ids[:]...)
		}
		for _, a := range oldAssets {
			s := "asset:" + a.ID
			judged = append(judged, FindingID(KindMissingAsset, s), FindingID(KindUnmanagedAsset, s), FindingID(KindRetiredAssetSeen, s))
		}
		for id := range l.other {
			judged = append(judged, id)
		}
	}
	return e.storeFindingDiff(ctx, l, fs, judged, full, in.acks, st)
}

func (l *live) isOpen(id string) bool {
	m, ok := l.open.get(id)
	return ok && m.open
}

// storeFindingDiff writes the findings that are new or say something new,
// and resolves the judged ones that are no longer found.
func (e *Engine) storeFindingDiff(ctx context.Context, l *live, fs []Finding, judged []string, full bool, ackNow map[string]*Ack, st *RunStats) error {
	now := e.now().UTC()
	var rows [][]any
	var shadow []shadowChange
	keep := map[string]StoredFinding{}
	current := make(map[string]bool, len(fs))
	written := 0
	for _, f := range fs {
		current[f.ID] = true
		sf := StoredFinding{Finding: f, State: StateOpen, OpenedAt: now, digest: f.Digest()}
		if o, ok := l.open.get(f.ID); ok && o.open {
			if o.digest == digestBytes(sf.digest) {
				continue
			}
			sf.OpenedAt = fromNanos(o.openedAt)
		} else {
			st.Opened++
		}
		rows = append(rows, findingRow(sf, e.version()))
		written++
		l.setMeta(f.ID, newMeta(f.Kind, f.Subject, sf.digest, StateOpen, sf.OpenedAt, f.LastSeen))
		if f.Kind == KindUnregisteredDevice {
			shadow = append(shadow, shadowChange{id: f.ID, at: dbTime(f.LastSeen).Unix(), open: true})
			// As it reads back: times in whole seconds.
			sec := func(t time.Time) time.Time { return fromDB(dbTime(t).Truncate(time.Second)) }
			sf.FirstSeen, sf.LastSeen, sf.OpenedAt = sec(sf.FirstSeen), sec(sf.LastSeen), sec(sf.OpenedAt)
			keep[f.ID] = sf
		}
	}
	var resolve []string
	for _, id := range judged {
		if !current[id] && l.isOpen(id) {
			resolve = append(resolve, id)
		}
	}
	sort.Strings(resolve)
	resolve = compactSorted(resolve)
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
			m, _ := l.open.get(id)
			m.open = false
			l.setMeta(id, m)
			if m.shadow {
				shadow = append(shadow, shadowChange{id: id})
			}
			if o.Ack != nil {
				// An acknowledgement covers one occurrence: if the condition
				// comes back, the finding is open again.
				acks = append(acks, []any{id, e.version(), o.Ack.Reason, o.Ack.By, dbTime(o.Ack.At), dbTime(o.Ack.Until), uint8(1)})
				delete(ackNow, id)
			}
		}
	}
	st.Open = l.nOpen
	// Unchanged: the open findings this run did not have to write, judged
	// again or not.
	st.Unchanged = st.Open - written
	if err := e.db.InsertRows(ctx, "INSERT INTO findings (finding_id, version, "+strings.TrimPrefix(findingColumns, "finding_id, ")+")", rows); err != nil {
		return err
	}
	if err := e.db.InsertRows(ctx, "INSERT INTO finding_acks (finding_id, version, reason, acked_by, acked_at, until, cleared)", acks); err != nil {
		return err
	}
	// The shadow report's index follows what is stored.
	if full {
		l.shadow.reset(l.open.openShadow())
	} else {
		l.shadow.update(shadow)
	}
	return e.keepFirstRows(ctx, l, keep, ackNow)
}

func compactSorted(s []string) []string {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// liveRows returns the findings of ids, with their effective state, from
// the rows the live state keeps; ok is false when it lacks one.
func (e *Engine) liveRows(ids []string) ([]StoredFinding, bool) {
	v, found := lives.Load(e.db)
	if !found {
		return nil, false
	}
	all, ok := v.(*live).shadow.rowsOf(ids)
	if !ok {
		return nil, false
	}
	return e.effective(all, FindingFilter{Kind: KindUnregisteredDevice}), true
}

// keepFirstRows keeps whole the report's first rows: those written by this
// run (in written), the ones kept before, and any other read back.
func (e *Engine) keepFirstRows(ctx context.Context, l *live, written map[string]StoredFinding, acks map[string]*Ack) error {
	ids, _, _ := l.shadow.page(shadowRows)
	old := l.shadow.rows
	rows := make(map[string]StoredFinding, len(ids))
	var missing []string
	for _, id := range ids {
		if f, ok := written[id]; ok {
			rows[id] = f
		} else if f, ok := old[id]; ok {
			rows[id] = f
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		got, err := e.storedByID(ctx, missing)
		if err != nil {
			return err
		}
		for id, f := range got {
			f.Ack = nil
			rows[id] = *f
		}
	}
	l.shadow.setRows(rows, acks)
	return nil
}

// livePage picks the n open unregistered-device findings seen last, and
// how many are open, from this process's state of the database; ok is
// false when it has none yet.
func (e *Engine) livePage(n int) (ids []string, total uint64, ok bool) {
	v, found := lives.Load(e.db)
	if !found {
		return nil, 0, false
	}
	return v.(*live).shadow.page(n)
}
