package reconcile

import (
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// This file is the identifier graph of DESIGN.md §3 kept up to date as
// observations arrive. It applies the passes of Resolve to each batch of new
// observations against the graph of the batches before, and keeps per node
// (identifier) a summary of the observations placed there, so a device is the
// merge of its nodes' summaries and a batch costs what it touches, not what
// was ever seen.
//
// Fed the same observations in time order, batch by batch, it gives the
// devices Resolve gives for all of them at once (TestIncrementalMatchesResolve
// holds it). The cases that depend on the order of arrival are those where
// Resolve's outcome depends on its order too: a link refused because of what
// a component held at the time (different serials, clones), judged here with
// what had arrived. Two placements Resolve makes with hindsight are kept
// movable instead: sightings of a randomised MAC that no trusted observation
// named yet (moved to the MAC once one does), and observations with only an
// IP (moved to the device that held the IP closest in time, when such an
// observation arrives later).

// agg summarises the observations placed at one node. What was seen there
// (a handful of names, addresses, vendors, kinds, observers, methods and
// ports) is one list: a node is then a few objects for the garbage
// collector to mark, where a list per kind of value made it up to seven
// more (at 100 M observations, a third of the heap's objects).
type agg struct {
	n           int
	first, last time.Time
	seen        []seenVal
	ids         []Identifier
	ev          []Evidence
}

// seenVal is a value seen at a node: for a host name or an address, with
// the latest time it was seen (Unix nanoseconds: observations are stored
// as DateTime, and checked against the clock when they arrive); for a
// vendor or a kind, with how often (or how strongly) it was seen; for an
// observer, a method or a switch port, once.
type seenVal struct {
	v    string
	x    int64
	kind seenKind
}

type seenKind uint8

const (
	seenHost seenKind = iota
	seenIP
	seenVendor
	seenDeviceKind
	seenObserver
	seenMethod
	seenPort
)

func (a *agg) find(k seenKind, v string) *seenVal {
	for i := range a.seen {
		if x := &a.seen[i]; x.kind == k && x.v == v {
			return x
		}
	}
	return nil
}

// stamp notes that v was seen at t.
func (a *agg) stamp(k seenKind, v string, t time.Time) {
	at := nanos(t)
	if x := a.find(k, v); x != nil {
		if x.x == noTime || at > x.x {
			x.x = at
		}
		return
	}
	a.seen = append(a.seen, seenVal{v, at, k})
}

// tally counts n sightings of v.
func (a *agg) tally(k seenKind, v string, n int) {
	if x := a.find(k, v); x != nil {
		x.x += int64(n)
		return
	}
	a.seen = append(a.seen, seenVal{v, int64(n), k})
}

// note notes that v was seen; an empty v is nothing.
func (a *agg) note(k seenKind, v string) {
	if v != "" && a.find(k, v) == nil {
		a.seen = append(a.seen, seenVal{v: v, kind: k})
	}
}

func earlier(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// addObs counts an observation, or an aggregate of identical ones (what
// build does per observation, less its identifiers and evidence).
func (a *agg) addObs(o *Observation) {
	n := o.count()
	a.n += n
	a.first, a.last = earlier(a.first, o.since()), later(a.last, o.At)
	if h := strings.ToLower(strings.TrimSpace(o.Hostname)); h != "" {
		a.stamp(seenHost, h, o.At)
	}
	if o.IP != "" {
		a.stamp(seenIP, o.IP, o.At)
	}
	if o.Vendor != "" {
		a.tally(seenVendor, o.Vendor, n)
	}
	for i, k := range o.Kinds {
		a.tally(seenDeviceKind, k, (len(o.Kinds)-i)*n)
	}
	a.note(seenObserver, o.Observer)
	a.note(seenMethod, o.Method)
	if o.Method == "snmp-fdb" && o.Port != "" {
		a.note(seenPort, strings.TrimSpace(o.Via+" port "+o.Port))
	}
}

func (a *agg) addID(id string, first, last time.Time) {
	for i := range a.ids {
		if a.ids[i].ID == id {
			a.ids[i].FirstSeen, a.ids[i].LastSeen = earlier(a.ids[i].FirstSeen, first), later(a.ids[i].LastSeen, last)
			return
		}
	}
	a.ids = append(a.ids, Identifier{ID: id, FirstSeen: first, LastSeen: last})
}

func sameEvidence(x, e *Evidence) bool {
	return x.Outcome == e.Outcome && x.Method == e.Method && x.Observer == e.Observer && slices.Equal(x.Tied, e.Tied)
}

// addEv merges evidence as build does: counts add up, the latest
// observation (by time, then where it is stored) is the reference.
func (a *agg) addEv(e Evidence) {
	for i := range a.ev {
		x := &a.ev[i]
		if sameEvidence(x, &e) {
			x.absorb(&e)
			return
		}
	}
	a.ev = append(a.ev, e)
}

// absorb merges e into x, the same evidence: counts add up, the latest
// observation (by time, then where it is stored) is the reference.
func (x *Evidence) absorb(e *Evidence) {
	x.Count += e.Count
	x.FirstSeen = earlier(x.FirstSeen, e.FirstSeen)
	if e.LastSeen.After(x.LastSeen) || e.LastSeen.Equal(x.LastSeen) && e.Ref > x.Ref {
		x.LastSeen, x.Ref = e.LastSeen, e.Ref
	}
}

// holder is a placement that can move: the sightings of one randomised MAC
// by one observer (and hostname) and method, or one observation with only
// an IP.
type holder struct {
	rs       bool
	r, seen  string // rs: the randomised MAC and its observer/hostname node
	method   string
	observer string
	a        agg // without identifiers and evidence: those follow the node
	lastRef  string
	node     string // where it is placed now
	deps     []*holder

	// IP only:
	ip     string
	at     time.Time
	ref    string
	ipseen string
	best   *held
}

// held is an observation with an IP that was placed at a node: the evidence
// that the node's device held the IP at that time.
type held struct {
	ip   string
	at   time.Time
	ref  string
	node string
	h    *holder // when placed through a holder, which may move
	self bool    // an agent's inventory
}

func (x *held) anchor() string {
	if x.h != nil {
		return x.h.node
	}
	return x.node
}

// closer reports whether x is a better holder of the IP at t than y: nearer
// in time, then earlier, then stored first (Resolve's order).
func closer(t time.Time, x, y *held) bool {
	if y == nil {
		return true
	}
	dx, dy := absDur(t.Sub(x.at)), absDur(t.Sub(y.at))
	if dx != dy {
		return dx < dy
	}
	if !x.at.Equal(y.at) {
		return x.at.Before(y.at)
	}
	return x.ref < y.ref
}

func inWindow(t time.Time, x *held) bool {
	d := t.Sub(x.at)
	return d >= -ipLead && d <= ipWindow
}

// Incremental is the identifier graph with the summaries of its nodes. It is
// not safe for concurrent use.
type Incremental struct {
	g        *graph
	nodes    map[string]*agg
	attached map[string]map[*holder]bool // node -> holders placed there
	rsByKey  map[string]*holder
	pending  map[string][]*holder // randomised MAC -> sightings waiting for a trusted observation to name it
	byIP     map[string][]*held
	ipOnly   map[string][]*holder // IP -> observations with only that IP
	// After a build from aggregates (lazy), an IP's evidence is kept one by
	// one only once it is exact: expanded because it has both kinds of
	// observation. heldAt and mixed track the others.
	lazy     bool
	exactIP  map[string]bool
	heldAt   map[string]bool
	mixed    map[string]bool
	subnets  []netip.Prefix
	prefixes map[netip.Prefix]bool

	touched  map[string]bool // nodes whose device may have changed in this batch
	oldRoots map[string]bool // roots merged away in this batch
	all      bool            // every device may have changed (the known subnets did)

	agreed map[[2]string]bool // agents whose lifetimes allowed a weak link

	devRoot map[string]string // root -> device id, as last built
	rootOf  map[string]string // device id -> root
	n       int               // observations applied
}

// NewIncremental returns an empty graph honouring the operators' splits.
func NewIncremental(splits []Split) *Incremental {
	s := &Incremental{g: &graph{parent: map[string]string{}, serials: map[string]map[string]bool{}, macs: map[string]map[string]bool{},
		agents: map[string]map[string]bool{}, span: map[string][2]time.Time{}, members: map[string][]string{}},
		nodes: map[string]*agg{}, attached: map[string]map[*holder]bool{}, rsByKey: map[string]*holder{}, pending: map[string][]*holder{},
		byIP: map[string][]*held{}, ipOnly: map[string][]*holder{}, prefixes: map[netip.Prefix]bool{},
		exactIP: map[string]bool{}, heldAt: map[string]bool{}, mixed: map[string]bool{},
		touched: map[string]bool{}, oldRoots: map[string]bool{}, devRoot: map[string]string{}, rootOf: map[string]string{}}
	for _, sp := range splits {
		m := map[string]bool{}
		for _, id := range sp.Identifiers {
			m[strings.ToLower(id)] = true
		}
		s.g.splits = append(s.g.splits, m)
	}
	s.g.onUnion = func(ra, rb string) { s.oldRoots[ra], s.oldRoots[rb] = true, true }
	s.agreed = map[[2]string]bool{}
	s.g.onAgree = func(x, y string) { s.agreed[[2]string{x, y}] = true }
	return s
}

// AddSubnets adds known prefixes (the agents' interfaces); a new one may
// change the subnets of every device.
func (s *Incremental) AddSubnets(ps []netip.Prefix) {
	for _, p := range ps {
		p = p.Masked()
		if !s.prefixes[p] {
			s.prefixes[p] = true
			s.subnets = append(s.subnets, p)
			s.all = true
		}
	}
}

func (s *Incremental) node(id string) *agg {
	a := s.nodes[id]
	if a == nil {
		a = &agg{}
		s.nodes[id] = a
	}
	return a
}

func (s *Incremental) attach(h *holder, node string) {
	if h.node == node {
		return
	}
	if h.node != "" {
		delete(s.attached[h.node], h)
		s.touched[h.node] = true
	}
	h.node = node
	if s.attached[node] == nil {
		s.attached[node] = map[*holder]bool{}
	}
	s.attached[node][h] = true
	s.touched[node] = true
	for _, d := range h.deps {
		s.attach(d, node)
	}
}

func (s *Incremental) setBest(h *holder, b *held) {
	if h.best != nil && h.best.h != nil {
		o := h.best.h
		o.deps = slices.DeleteFunc(o.deps, func(x *holder) bool { return x == h })
	}
	h.best = b
	if b.h != nil {
		b.h.deps = append(b.h.deps, h)
	}
	s.attach(h, b.anchor())
}

// Apply adds a batch of observations. Observations must not be applied
// twice; a batch should hold whole reports. It returns false, and applies
// nothing, when the batch shows that two agents whose lifetimes allowed an
// earlier link through a shared host id or UUID report at the same time
// (clones, found out): Resolve judges that with every inventory known, so
// the graph must then be rebuilt from all observations.
func (s *Incremental) Apply(obs []Observation) bool {
	g := s.g
	spans := map[string][2]time.Time{}
	for _, o := range obs {
		if o.AgentID != "" {
			id := IDAgent + ":" + o.AgentID
			sp, ok := spans[id]
			if !ok {
				sp, ok = g.span[id]
			}
			if !ok {
				sp = [2]time.Time{o.At, o.At}
			}
			if o.At.Before(sp[0]) {
				sp[0] = o.At
			}
			if o.At.After(sp[1]) {
				sp[1] = o.At
			}
			spans[id] = sp
		}
	}
	if len(spans) > 0 {
		for p := range s.agreed {
			sx, okx := spans[p[0]]
			sy, oky := spans[p[1]]
			if !okx && !oky {
				continue
			}
			if !okx {
				sx = g.span[p[0]]
			}
			if !oky {
				sy = g.span[p[1]]
			}
			if !sx[0].After(sy[1]) && !sy[0].After(sx[1]) {
				return false
			}
		}
	}
	for id, sp := range spans {
		g.span[id] = sp
	}
	for i := range obs {
		s.n += obs[i].count()
	}
	ps := tieTrusted(g, obs)
	// Sightings of a randomised MAC that a trusted observation now names
	// move to it, as Resolve would have placed them.
	for r, hs := range s.pending {
		if _, known := g.parent[r]; !known {
			continue
		}
		for _, h := range hs {
			s.attach(h, r)
		}
		delete(s.pending, r)
	}
	var newHeld []*held
	for _, p := range ps {
		if p.anchor == "" {
			continue
		}
		a := s.node(p.anchor)
		a.addObs(p.o)
		for _, id := range p.ids {
			a.addID(id, p.o.since(), p.o.At)
		}
		for _, e := range p.outcome {
			a.addEv(e)
		}
		s.touched[p.anchor] = true
		if p.o.IP != "" {
			newHeld = append(newHeld, &held{ip: p.o.IP, at: p.o.At, ref: p.o.Ref, node: p.anchor, self: p.o.Method == "self"})
		}
	}
	// Pass 3: sightings.
	for _, p := range ps {
		if trusted(p.o.Method) {
			continue
		}
		ids := identifiersOf(p.o)
		var id string
		switch {
		case len(ids.strong) > 0:
			id = ids.strong[0]
		case len(ids.rand) > 0:
			r := ids.rand[0]
			seen := seenName(p.o)
			key := rsKey(r, seen, p.o.Method)
			h := s.rsByKey[key]
			if h == nil {
				h = &holder{rs: true, r: r, seen: seen, method: p.o.Method, observer: p.o.Observer}
				s.rsByKey[key] = h
				if _, known := g.parent[r]; known {
					s.attach(h, r)
				} else {
					g.add(seen)
					s.attach(h, seen)
					s.pending[r] = append(s.pending[r], h)
				}
			}
			if h.lastRef == "" || p.o.At.After(h.a.last) || p.o.At.Equal(h.a.last) && p.o.Ref > h.lastRef {
				h.lastRef = p.o.Ref
			}
			h.a.addObs(p.o)
			s.touched[h.node] = true
			p.anchor = "holder"
			if p.o.IP != "" {
				newHeld = append(newHeld, &held{ip: p.o.IP, at: p.o.At, ref: p.o.Ref, h: h})
			}
			continue
		default:
			continue
		}
		g.add(id)
		p.anchor, p.ids = id, []string{id}
		a := s.node(id)
		a.addObs(p.o)
		a.addID(id, p.o.since(), p.o.At)
		a.addEv(Evidence{Tied: []string{id}, Outcome: "seen", Method: p.o.Method, Observer: p.o.Observer, Ref: p.o.Ref, FirstSeen: p.o.since(), LastSeen: p.o.At, Count: p.o.count()})
		s.touched[id] = true
		if p.o.IP != "" {
			newHeld = append(newHeld, &held{ip: p.o.IP, at: p.o.At, ref: p.o.Ref, node: id})
		}
	}
	// Pass 4: an IP is evidence at a time. New evidence may be closer to
	// an IP-only observation placed before.
	for _, x := range newHeld {
		s.addHeld(x)
	}
	for _, p := range ps {
		if p.anchor == "" && p.o.IP != "" {
			s.placeIPOnly(p.o)
		}
	}
	return true
}

// exact says whether the evidence of ip is kept observation by observation:
// always, except after a build from aggregates (lazy), where only the IPs
// that had both kinds of observation were expanded.
func (s *Incremental) exact(ip string) bool {
	return !s.lazy || s.exactIP[ip]
}

// addHeld records that a placed observation held its IP then, and moves
// the IP-only observations it is closer to. Where the IP is not exact it
// records only that the IP was held (an inventory's evidence is kept: the
// engine expands from the observation feed, which has no inventories).
func (s *Incremental) addHeld(x *held) {
	ip := x.ip
	if !s.exact(ip) {
		s.heldAt[ip] = true
		if len(s.ipOnly[ip]) > 0 {
			s.mixed[ip] = true
		}
		if !x.self {
			return
		}
	}
	s.byIP[ip] = append(s.byIP[ip], x)
	if !s.exact(ip) {
		return
	}
	for _, h := range s.ipOnly[ip] {
		if inWindow(h.at, x) && closer(h.at, x, h.best) {
			if h.best == nil {
				s.touched[h.node] = true
			}
			s.setBest(h, x)
		}
	}
}

// placeIPOnly places an observation with only an IP at the device that
// held the IP closest in time, else at a weak device of its observer and IP.
func (s *Incremental) placeIPOnly(o *Observation) {
	h := &holder{ip: o.IP, at: o.At, ref: o.Ref, method: o.Method, observer: o.Observer,
		ipseen: IDIPSeen + ":" + o.Observer + "/" + o.IP}
	h.a.addObs(o)
	s.ipOnly[o.IP] = append(s.ipOnly[o.IP], h)
	if s.exact(o.IP) {
		var best *held
		for _, x := range s.byIP[o.IP] {
			if inWindow(o.At, x) && closer(o.At, x, best) {
				best = x
			}
		}
		if best != nil {
			s.setBest(h, best)
			return
		}
	} else if s.heldAt[o.IP] {
		s.mixed[o.IP] = true // placed for now; Expand places it
	}
	s.g.add(h.ipseen)
	s.attach(h, h.ipseen)
}

// Mixed lists the IPs, not exact, that now have both observations that
// held them and observations with only them: the engine must Expand each
// before the devices are built.
func (s *Incremental) Mixed() []string { return keys(s.mixed) }

// Expand makes ip exact: obs are every observation applied so far that
// carries it (read back one by one), with the SNMP interfaces Apply folded
// into them. The evidence that a device held it is
// recorded, and the observations with only that IP replace the (maybe
// aggregated) ones placed before and are placed anew.
func (s *Incremental) Expand(ip string, obs []Observation) {
	for _, h := range s.ipOnly[ip] {
		if h.best != nil && h.best.h != nil {
			o := h.best.h
			o.deps = slices.DeleteFunc(o.deps, func(x *holder) bool { return x == h })
		}
		delete(s.attached[h.node], h)
		s.touched[h.node] = true
	}
	delete(s.ipOnly, ip)
	delete(s.mixed, ip)
	delete(s.heldAt, ip)
	s.exactIP[ip] = true
	var only []*Observation
	obs = foldSNMPInterfaces(obs)
	for i := range obs {
		o := &obs[i]
		if o.IP != ip {
			continue
		}
		if node, h, ok := s.placedAt(o); ok {
			s.addHeld(&held{ip: ip, at: o.At, ref: o.Ref, node: node, h: h})
		} else if node == "" {
			only = append(only, o)
		}
	}
	for _, o := range only {
		s.placeIPOnly(o)
	}
}

// rsKey names the holder of the sightings of randomised MAC r by one
// observer (and hostname: seen) and method.
func rsKey(r, seen, method string) string { return r + "|" + seen + "|" + method }

// placedAt says where Apply placed an observation that carries an
// identifier: its node, or the holder of its randomised MAC's sightings.
// An observation with none is IP-only (node ""); a sighting whose holder
// is unknown is neither (node "?").
func (s *Incremental) placedAt(o *Observation) (node string, h *holder, ok bool) {
	ids := identifiersOf(o)
	if trusted(o.Method) {
		if nodes := trustedNodes(o, ids); len(nodes) > 0 {
			return nodes[0], nil, true
		}
		if len(ids.exclusive) > 0 {
			return ids.exclusive[0], nil, true
		}
		return "", nil, false
	}
	switch {
	case len(ids.strong) > 0:
		return ids.strong[0], nil, true
	case len(ids.rand) > 0:
		if h := s.rsByKey[rsKey(ids.rand[0], seenName(o), o.Method)]; h != nil {
			return "", h, true
		}
		return "?", nil, false
	}
	return "", nil, false
}

// Changes returns the devices built anew since the last call and the ids of
// devices that no longer exist (merged into others).
func (s *Incremental) Changes() (changed []Device, gone []string) {
	return s.ChangesEach(0, nil)
}

// ChangesEach is Changes for a caller that stores the devices as they are
// built, so a build of every device never holds them all whole: each is
// given the devices size at a time (all at once if size is 0), and the
// devices returned are then cut to what judging reads (slim).
func (s *Incremental) ChangesEach(size int, each func([]Device)) (changed []Device, gone []string) {
	roots := map[string]bool{}
	if s.all {
		for id := range s.g.members {
			roots[id] = true
		}
	}
	for n := range s.touched {
		roots[s.g.find(n)] = true
	}
	prev := map[string]bool{}
	for r := range s.oldRoots {
		if id, ok := s.devRoot[r]; ok {
			prev[id] = true
			delete(s.devRoot, r)
			delete(s.rootOf, id)
		}
	}
	for r := range roots {
		if id, ok := s.devRoot[r]; ok {
			prev[id] = true
			delete(s.devRoot, r)
			delete(s.rootOf, id)
		}
	}
	rs := make([]string, 0, len(roots))
	for r := range roots {
		rs = append(rs, r)
	}
	sort.Strings(rs)
	if size <= 0 {
		size = max(len(rs), 1)
	}
	for lo := 0; lo < len(rs); lo += size {
		part := rs[lo:min(len(rs), lo+size)]
		devs, oks := s.devices(part)
		built := make([]Device, 0, len(part))
		for i, r := range part {
			if !oks[i] {
				continue
			}
			d := devs[i]
			s.devRoot[r] = d.ID
			s.rootOf[d.ID] = r
			delete(prev, d.ID)
			built = append(built, d)
		}
		if each != nil {
			each(built)
			for i := range built {
				slim(&built[i])
			}
		}
		changed = append(changed, built...)
	}
	for id := range prev {
		gone = append(gone, id)
	}
	changed = sortedByID(changed, func(d *Device) string { return d.ID })
	sort.Strings(gone)
	s.touched, s.oldRoots, s.all = map[string]bool{}, map[string]bool{}, false
	return changed, gone
}

// slim cuts a device to what judging reads: no evidence, and of its
// identifiers the one it is named after and its agents'.
func slim(d *Device) {
	d.Evidence = nil
	if len(d.Identifiers) == 0 {
		return
	}
	ids := []Identifier{d.Identifiers[0]}
	for _, x := range d.Identifiers[1:] {
		if strings.HasPrefix(x.ID, IDAgent+":") {
			ids = append(ids, x)
		}
	}
	d.Identifiers = ids
}

// devices builds the devices of roots, on every processor when they are
// many: building reads the graph and the summaries, and changes nothing.
func (s *Incremental) devices(roots []string) ([]Device, []bool) {
	devs, oks := make([]Device, len(roots)), make([]bool, len(roots))
	workers := min(runtime.GOMAXPROCS(0), 1+len(roots)/256)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := newDevAcc()
			for i := w; i < len(roots); i += workers {
				devs[i], oks[i] = s.device(roots[i], a)
			}
		}()
	}
	wg.Wait()
	return devs, oks
}

// Device builds the device of that id as of the last Changes.
func (s *Incremental) Device(id string) (Device, bool) {
	r, ok := s.rootOf[id]
	if !ok {
		return Device{}, false
	}
	return s.device(r, newDevAcc())
}

// DeviceIDs lists the devices as of the last Changes.
func (s *Incremental) DeviceIDs() []string { return slices.Sorted(maps.Keys(s.rootOf)) }

// Devices builds every device, as Resolve returns them.
func (s *Incremental) Devices() []Device {
	out := make([]Device, 0, len(s.rootOf))
	for _, id := range s.DeviceIDs() {
		if d, ok := s.Device(id); ok {
			out = append(out, d)
		}
	}
	return out
}

// Observations is how many observations were applied.
func (s *Incremental) Observations() int { return s.n }

// devAcc merges the summaries of a component with maps: a component may
// hold many nodes (every sighting of a randomised MAC without a name by one
// observer is one device). One is reused, reset, for device after device.
type devAcc struct {
	sightings
	n           int
	first, last time.Time
	ids         map[string]Identifier
	slab        []Evidence // where ev's values live; reused
}

func newDevAcc() *devAcc {
	return &devAcc{sightings: newSightings(), ids: map[string]Identifier{}}
}

func (d *devAcc) reset() {
	d.sightings.reset()
	d.n, d.first, d.last = 0, time.Time{}, time.Time{}
	d.ids = emptied(d.ids)
	clear(d.slab) // drop what the evidence pointed to
	if cap(d.slab) > 256 {
		d.slab = nil
	}
	d.slab = d.slab[:0]
}

// add merges a node's summary.
func (d *devAcc) add(a *agg) {
	if a == nil {
		return
	}
	d.addObs(a)
	for _, x := range a.ids {
		d.addID(x.ID, x.FirstSeen, x.LastSeen)
	}
	for i := range a.ev {
		e := &a.ev[i]
		d.mergeEv(keyOf(e), e)
	}
}

// addHolder merges what a holder adds to the device of its node: its
// observations, and the identifier and evidence of how it is placed.
func (d *devAcc) addHolder(h *holder) {
	d.addObs(&h.a)
	e := Evidence{Method: h.method, Observer: h.observer, Ref: h.ref, FirstSeen: h.a.first, LastSeen: h.a.last, Count: h.a.n}
	var tied string
	switch {
	case h.rs:
		tied, e.Outcome, e.Ref = h.node, "seen", h.lastRef
		d.addID(h.node, h.a.first, h.a.last)
	case h.best == nil:
		tied, e.Outcome = h.ipseen, "seen by IP only"
		d.addID(h.ipseen, h.a.first, h.a.last)
	default:
		tied, e.Outcome = "ip:"+h.ip, "seen by IP, held by this device then"
	}
	d.mergeEv(evKey{tied, e.Outcome, e.Method, e.Observer}, &e)
}

// addObs merges a summary's observations, without its identifiers and
// evidence.
func (d *devAcc) addObs(a *agg) {
	d.n += a.n
	if a.n > 0 {
		d.first, d.last = earlier(d.first, a.first), later(d.last, a.last)
	}
	for _, x := range a.seen {
		switch x.kind {
		case seenHost:
			stampAt(d.hosts, x)
		case seenIP:
			stampAt(d.ips, x)
		case seenVendor:
			d.vendors[x.v] += int(x.x)
		case seenDeviceKind:
			d.kinds[x.v] += int(x.x)
		case seenObserver:
			d.addToSet("observer", x.v)
		case seenMethod:
			d.addToSet("method", x.v)
		case seenPort:
			d.addToSet("port", x.v)
		}
	}
}

// stampAt keeps in m the latest time x was seen.
func stampAt(m map[string]time.Time, x seenVal) {
	at := fromNanos(x.x)
	if old, ok := m[x.v]; !ok || at.After(old) {
		m[x.v] = at
	}
}

func (d *devAcc) addID(id string, first, last time.Time) {
	y, ok := d.ids[id]
	if !ok {
		d.ids[id] = Identifier{ID: id, FirstSeen: first, LastSeen: last}
		return
	}
	y.FirstSeen, y.LastSeen = earlier(y.FirstSeen, first), later(y.LastSeen, last)
	d.ids[id] = y
}

// mergeEv merges evidence as addEv does (absorb); e is copied when it is
// new (with the key's tied identifiers when it names none).
func (d *devAcc) mergeEv(k evKey, e *Evidence) {
	x := d.ev[k]
	if x == nil {
		if len(d.slab) == cap(d.slab) {
			// A new slab: the evidence already placed keeps its address.
			d.slab = make([]Evidence, 0, max(16, 2*cap(d.slab)))
		}
		d.slab = append(d.slab, *e)
		x = &d.slab[len(d.slab)-1]
		if x.Tied == nil {
			x.Tied = []string{k.tied}
		}
		d.ev[k] = x
		return
	}
	x.absorb(e)
}

func (d *devAcc) addToSet(name, v string) {
	m := d.set[name]
	if m == nil {
		m = map[string]bool{}
		d.set[name] = m
	}
	m[v] = true
}

func (s *Incremental) device(root string, a *devAcc) (Device, bool) {
	members := s.g.members[root]
	a.reset()
	for _, m := range members {
		a.add(s.nodes[m])
		for h := range s.attached[m] {
			a.addHolder(h)
		}
	}
	if a.n == 0 {
		return Device{}, false
	}
	d := Device{FirstSeen: a.first, LastSeen: a.last, Observations: a.n}
	anchor := ""
	for _, id := range members {
		if anchor == "" || rank(id) < rank(anchor) || rank(id) == rank(anchor) && id < anchor {
			anchor = id
		}
		x := a.ids[id]
		x.ID = id
		d.Identifiers = append(d.Identifiers, x)
	}
	d.ID = DeviceID(anchor)
	d.Anonymous = rank(anchor) >= priority[IDRandMAC]
	a.describe(&d, s.subnets)
	return d, true
}
