// Package reconcile turns observations into devices (the identifier graph
// of DESIGN.md §3) and devices, the register, agents and software into
// findings. Resolve and Findings are pure functions; run.go reads their
// input from ClickHouse and stores their output.
package reconcile

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/umbrasec/umbra/shared/ident"
)

// Identifier types. An identifier is written "type:value".
const (
	IDSerial   = "serial"   // a non-placeholder system serial number
	IDMAC      = "mac"      // a globally administered MAC
	IDAgent    = "agent"    // an enrolled agent
	IDDHCP     = "dhcp"     // a DHCP client identifier not derived from a randomised MAC
	IDHostID   = "hostid"   // the host id an agent reports (machine id); exclusive, weak
	IDUUID     = "uuid"     // the SMBIOS system UUID; exclusive, weak
	IDRandMAC  = "rmac"     // a randomised (locally administered) MAC: never identity on its own
	IDSeenName = "seenname" // observer/hostname: groups randomised-MAC sightings without identity
	IDAnon     = "anon"     // observer: randomised-MAC sightings without hostname
	IDIPSeen   = "ipseen"   // observer/ip: a host seen only by IP (a routed sweep), no device held that IP then
)

// ipWindow is how long after a MAC-bearing observation an IP-only one is
// taken to be the same host (a DHCP lease); ipLead is how long before.
const (
	ipWindow = 24 * time.Hour
	ipLead   = time.Hour
)

// priority orders identifier types for naming a device: the device id is
// derived from its most stable identifier.
var priority = map[string]int{IDSerial: 0, IDMAC: 1, IDAgent: 2, IDDHCP: 3, IDHostID: 4, IDUUID: 5, IDRandMAC: 6, IDSeenName: 7, IDAnon: 8, IDIPSeen: 9}

// Observation is one fact about one device. For the agent's own inventory
// (Method "self") AgentID, HostID, UUID, Serial and MACs describe the host.
type Observation struct {
	Ref      string    `json:"ref"` // where it is stored: report id and index
	At       time.Time `json:"at"`
	Observer string    `json:"observer"`
	Method   string    `json:"method"`
	IP       string    `json:"ip,omitempty"`
	MAC      string    `json:"mac,omitempty"`
	Hostname string    `json:"hostname,omitempty"`
	Vendor   string    `json:"vendor,omitempty"`
	Serial   string    `json:"serial,omitempty"`
	Via      string    `json:"via,omitempty"`  // snmp-fdb: the switch
	Port     string    `json:"port,omitempty"` // snmp-fdb: the port
	Kinds    []string  `json:"kinds,omitempty"`
	ClientID string    `json:"client_id,omitempty"`

	AgentID string   `json:"agent_id,omitempty"`
	HostID  string   `json:"host_id,omitempty"`
	UUID    string   `json:"uuid,omitempty"`
	MACs    []string `json:"macs,omitempty"`

	// Count > 1 makes this an aggregate of identical observations (what a
	// build reads from ClickHouse, GROUP BY everything but time and
	// place): Since is the first one's time, At the last one's, Ref the
	// last one's place. Resolve takes one observation at a time.
	Count int       `json:"-"`
	Since time.Time `json:"-"`
}

// count is how many observations o stands for.
func (o *Observation) count() int { return max(o.Count, 1) }

// since is when the first of the observations o stands for was made.
func (o *Observation) since() time.Time {
	if o.Count > 1 && !o.Since.IsZero() {
		return o.Since
	}
	return o.At
}

// Split is an operator's correction of a wrong merge: no observation may
// tie an identifier of the set to one outside it.
type Split struct {
	ID          string   `json:"id"`
	Identifiers []string `json:"identifiers"`
}

// Identifier is one identifier of a device and when it was seen.
type Identifier struct {
	ID        string    `json:"id"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Evidence is a set of identifiers that observations tied together (or a
// link refused, and why), summarised over the observations that made it.
type Evidence struct {
	Tied      []string  `json:"tied"`
	Outcome   string    `json:"outcome"` // "tied", "seen" or "refused: …"
	Method    string    `json:"method"`
	Observer  string    `json:"observer"`
	Ref       string    `json:"ref"` // the latest such observation
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     int       `json:"count"`
}

// Device is a connected component of the identifier graph.
type Device struct {
	ID           string       `json:"id"`
	FirstSeen    time.Time    `json:"first_seen"`
	LastSeen     time.Time    `json:"last_seen"`
	Hostnames    []string     `json:"hostnames,omitempty"`
	Vendor       string       `json:"vendor,omitempty"`
	Kinds        []string     `json:"kinds,omitempty"`
	IPs          []string     `json:"ips,omitempty"`
	MACs         []string     `json:"macs,omitempty"` // global and randomised
	Serials      []string     `json:"serials,omitempty"`
	Agents       []string     `json:"agents,omitempty"`
	Observers    []string     `json:"observers,omitempty"`
	Methods      []string     `json:"methods,omitempty"`
	Subnets      []string     `json:"subnets,omitempty"`
	SwitchPorts  []string     `json:"switch_ports,omitempty"`
	Anonymous    bool         `json:"anonymous"` // only randomised MACs and names: weak identity
	Observations int          `json:"observations"`
	Identifiers  []Identifier `json:"identifiers,omitempty"`
	Evidence     []Evidence   `json:"evidence,omitempty"`
}

// trusted methods are the device describing itself (its agent, its DHCP
// request, its own SNMP agent, its LLDP announcement): everything one such
// observation names belongs to one device.
func trusted(method string) bool {
	switch method {
	case "self", "dhcp", "snmp", "lldp":
		return true
	}
	return false
}

func macID(s string) (string, bool) {
	m, err := ident.ParseMAC(s)
	if err != nil || m.IsZero() || m.IsMulticast() {
		return "", false
	}
	if m.IsIdentity() {
		return IDMAC + ":" + m.String(), true
	}
	return IDRandMAC + ":" + m.String(), true
}

func cleanID(typ, s string) string {
	s = strings.TrimSpace(s)
	if s == "" || ident.IsPlaceholder(s) {
		return ""
	}
	return typ + ":" + strings.ToLower(s)
}

type obsIDs struct {
	strong    []string // serial, mac, agent, dhcp
	rand      []string // rmac
	exclusive []string // hostid, uuid
}

func identifiersOf(o *Observation) obsIDs {
	var ids obsIDs
	add := func(list *[]string, id string) {
		if id == "" {
			return
		}
		for _, x := range *list {
			if x == id {
				return
			}
		}
		*list = append(*list, id)
	}
	addMAC := func(s string) {
		if id, ok := macID(s); ok {
			if strings.HasPrefix(id, IDMAC+":") {
				add(&ids.strong, id)
			} else {
				add(&ids.rand, id)
			}
		}
	}
	if o.AgentID != "" {
		add(&ids.strong, IDAgent+":"+o.AgentID)
	}
	add(&ids.strong, cleanID(IDSerial, o.Serial))
	addMAC(o.MAC)
	for _, m := range o.MACs {
		addMAC(m)
	}
	if c := strings.ToLower(strings.TrimSpace(o.ClientID)); c != "" {
		// A client id that is the (randomised) MAC rotates with it.
		hw := strings.TrimPrefix(strings.ReplaceAll(c, "-", ":"), "01:")
		if id, ok := macID(hw); !ok || strings.HasPrefix(id, IDMAC+":") {
			add(&ids.strong, IDDHCP+":"+c)
		}
	}
	add(&ids.exclusive, cleanID(IDHostID, o.HostID))
	add(&ids.exclusive, cleanID(IDUUID, o.UUID))
	return ids
}

func seenName(o *Observation) string {
	if h := strings.ToLower(strings.TrimSpace(o.Hostname)); h != "" {
		return IDSeenName + ":" + o.Observer + "/" + h
	}
	return IDAnon + ":" + o.Observer
}

// graph is a union-find over identifiers with what each component holds.
type graph struct {
	parent  map[string]string
	serials map[string]map[string]bool // root -> serial identifiers
	macs    map[string]map[string]bool // root -> global MAC identifiers
	agents  map[string]map[string]bool // root -> agent identifiers
	span    map[string][2]time.Time    // agent identifier -> first/last inventory
	splits  []map[string]bool
	// members (root -> identifiers) and onUnion are kept only by the
	// incremental resolver, which must find what a merge touched.
	members map[string][]string
	onUnion func(ra, rb string)
	// onAgree is told of every pair of agents whose lifetimes allowed a
	// link through a host id, UUID or randomised MAC.
	onAgree func(x, y string)
}

func (g *graph) add(id string) {
	if _, ok := g.parent[id]; ok {
		return
	}
	g.parent[id] = id
	if g.members != nil {
		g.members[id] = []string{id}
	}
	set := func(m map[string]map[string]bool) { m[id] = map[string]bool{id: true} }
	switch typ, _, _ := strings.Cut(id, ":"); typ {
	case IDSerial:
		set(g.serials)
	case IDMAC:
		set(g.macs)
	case IDAgent:
		set(g.agents)
	}
}

func (g *graph) find(id string) string {
	for g.parent[id] != id {
		g.parent[id] = g.parent[g.parent[id]]
		id = g.parent[id]
	}
	return id
}

func disjoint(a, b map[string]bool) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	for k := range a {
		if b[k] {
			return false
		}
	}
	return true
}

// conflict says why the components of a and b must not merge, or "".
// exclusive is true for a link through a host id or UUID, which clones
// share: it also needs the MACs and the agents' lifetimes to agree.
func (g *graph) conflict(a, b string, exclusive bool) string {
	for _, s := range g.splits {
		if s[a] != s[b] {
			return "split by an operator"
		}
	}
	ra, rb := g.find(a), g.find(b)
	if ra == rb {
		return ""
	}
	if disjoint(g.serials[ra], g.serials[rb]) {
		return fmt.Sprintf("different serials (%s, %s)", first(g.serials[ra]), first(g.serials[rb]))
	}
	if !exclusive {
		return ""
	}
	if disjoint(g.macs[ra], g.macs[rb]) {
		return "no MAC in common (a cloned machine?)"
	}
	for x := range g.agents[ra] {
		for y := range g.agents[rb] {
			sx, sy := g.span[x], g.span[y]
			if !sx[0].After(sy[1]) && !sy[0].After(sx[1]) {
				return fmt.Sprintf("agents %s and %s report at the same time (a cloned machine?)", strings.TrimPrefix(x, IDAgent+":"), strings.TrimPrefix(y, IDAgent+":"))
			}
		}
	}
	if g.onAgree != nil {
		for x := range g.agents[ra] {
			for y := range g.agents[rb] {
				g.onAgree(x, y)
			}
		}
	}
	return ""
}

func first(m map[string]bool) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}

func (g *graph) union(a, b string) {
	ra, rb := g.find(a), g.find(b)
	if ra == rb {
		return
	}
	if ra > rb { // deterministic roots
		ra, rb = rb, ra
	}
	g.parent[rb] = ra
	if g.members != nil {
		g.members[ra] = append(g.members[ra], g.members[rb]...)
		delete(g.members, rb)
	}
	if g.onUnion != nil {
		g.onUnion(ra, rb)
	}
	for _, m := range []map[string]map[string]bool{g.serials, g.macs, g.agents} {
		if len(m[rb]) > 0 {
			if m[ra] == nil {
				m[ra] = map[string]bool{}
			}
			for k := range m[rb] {
				m[ra][k] = true
			}
		}
		delete(m, rb)
	}
}

// link ties ids to anchor one by one, refusing conflicting links, and
// returns what it tied and what it refused.
func (g *graph) link(anchor string, ids []string, exclusive bool) (tied []string, refused map[string]string) {
	tied = []string{anchor}
	for _, id := range ids {
		if id == anchor {
			continue
		}
		g.add(id)
		if why := g.conflict(anchor, id, exclusive); why != "" {
			if refused == nil {
				refused = map[string]string{}
			}
			refused[id] = why
			continue
		}
		g.union(anchor, id)
		tied = append(tied, id)
	}
	return tied, refused
}

type placed struct {
	o       *Observation
	anchor  string
	ids     []string
	outcome []Evidence
}

// Resolve computes the devices from observations. It is deterministic: the
// same observations and splits give the same devices with the same ids in
// any order. subnets are the known prefixes (from the agents' interfaces)
// that locate an IP; an IP outside them is placed in its /24 or /64.
func Resolve(obs []Observation, splits []Split, subnets []netip.Prefix) []Device {
	g := &graph{parent: map[string]string{}, serials: map[string]map[string]bool{}, macs: map[string]map[string]bool{},
		agents: map[string]map[string]bool{}, span: map[string][2]time.Time{}}
	for _, s := range splits {
		m := map[string]bool{}
		for _, id := range s.Identifiers {
			m[strings.ToLower(id)] = true
		}
		g.splits = append(g.splits, m)
	}
	for _, o := range obs {
		if o.AgentID != "" {
			id := IDAgent + ":" + o.AgentID
			sp, ok := g.span[id]
			if !ok {
				sp = [2]time.Time{o.At, o.At}
			}
			if o.At.Before(sp[0]) {
				sp[0] = o.At
			}
			if o.At.After(sp[1]) {
				sp[1] = o.At
			}
			g.span[id] = sp
		}
	}
	ps := tieTrusted(g, obs)
	// Pass 3: sightings (ARP, ICMP, forwarding tables, mDNS…) tie nothing:
	// a global MAC is its own identifier, a randomised one belongs to the
	// device a trusted observation tied it to, else to its observer and
	// hostname.
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
			id = ids.rand[0]
			if _, known := g.parent[id]; !known {
				id = seenName(p.o)
			}
		default:
			continue // IP only: pass 4
		}
		g.add(id)
		p.anchor, p.ids = id, []string{id}
		p.outcome = []Evidence{{Tied: []string{id}, Outcome: "seen", Method: p.o.Method, Observer: p.o.Observer, Ref: p.o.Ref, FirstSeen: p.o.At, LastSeen: p.o.At, Count: 1}}
	}
	// Pass 4: an IP is evidence at a time, never identity. An observation
	// with only an IP belongs to the device that held the IP then (by a
	// MAC-bearing observation up to ipWindow before or ipLead after), else
	// to a weak device of its observer and IP, so a host behind a router
	// is still reported.
	type held struct {
		at     time.Time
		anchor string
	}
	byIP := map[string][]held{}
	for _, p := range ps {
		if p.anchor != "" && p.o.IP != "" {
			byIP[p.o.IP] = append(byIP[p.o.IP], held{p.o.At, p.anchor})
		}
	}
	for _, p := range ps {
		if p.anchor != "" || p.o.IP == "" {
			continue
		}
		var best *held
		for i, h := range byIP[p.o.IP] {
			d := p.o.At.Sub(h.at)
			if d >= -ipLead && d <= ipWindow && (best == nil || absDur(d) < absDur(p.o.At.Sub(best.at))) {
				best = &byIP[p.o.IP][i]
			}
		}
		if best != nil {
			p.anchor = best.anchor
			p.outcome = []Evidence{{Tied: []string{"ip:" + p.o.IP}, Outcome: "seen by IP, held by this device then", Method: p.o.Method, Observer: p.o.Observer, Ref: p.o.Ref, FirstSeen: p.o.At, LastSeen: p.o.At, Count: 1}}
			continue
		}
		id := IDIPSeen + ":" + p.o.Observer + "/" + p.o.IP
		g.add(id)
		p.anchor, p.ids = id, []string{id}
		p.outcome = []Evidence{{Tied: []string{id}, Outcome: "seen by IP only", Method: p.o.Method, Observer: p.o.Observer, Ref: p.o.Ref, FirstSeen: p.o.At, LastSeen: p.o.At, Count: 1}}
	}
	return build(g, ps, subnets)
}

// tieTrusted places obs, folded and in a stable order (time, then where
// each is stored), and runs the two passes that tie identifiers in g: the
// trusted observations' stable identifiers and randomised MACs, then the
// host ids and UUIDs that cloned machines share. Resolve and the
// incremental state both build on it.
func tieTrusted(g *graph, obs []Observation) []*placed {
	obs = foldSNMPInterfaces(obs)
	ps := make([]*placed, len(obs))
	for i := range obs {
		ps[i] = &placed{o: &obs[i]}
	}
	// Order by time, then by where the observation is stored, so the
	// result does not depend on the order of the input.
	slices.SortStableFunc(ps, func(a, b *placed) int {
		if c := a.o.since().Compare(b.o.since()); c != 0 {
			return c
		}
		return strings.Compare(a.o.Ref, b.o.Ref)
	})
	// Pass 1: trusted observations tie their stable identifiers and their
	// randomised MACs; one with no stable identifier is grouped under its
	// observer and hostname, so a rotating MAC is one device.
	for _, p := range ps {
		if !trusted(p.o.Method) {
			continue
		}
		nodes := trustedNodes(p.o, identifiersOf(p.o))
		if len(nodes) == 0 {
			continue
		}
		p.anchor = nodes[0]
		g.add(p.anchor)
		// Stable identifiers tie unless serials disagree; a randomised MAC
		// (which software may reuse: 02:00:00:00:00:00) ties only where
		// the machines agree, as a host id does.
		var stable, weak []string
		for _, id := range nodes[1:] {
			if rank(id) >= priority[IDRandMAC] {
				weak = append(weak, id)
			} else {
				stable = append(stable, id)
			}
		}
		tied, refused := g.link(p.anchor, stable, false)
		tiedW, refusedW := g.link(p.anchor, weak, true)
		tied = append(tied, tiedW[1:]...)
		for k, v := range refusedW {
			if refused == nil {
				refused = map[string]string{}
			}
			refused[k] = v
		}
		p.ids = tied
		p.outcome = evidenceOf(p.o, tied, refused)
	}
	// Pass 2: host ids and UUIDs, which cloned machines share, join only
	// components that agree.
	for _, p := range ps {
		if !trusted(p.o.Method) {
			continue
		}
		ids := identifiersOf(p.o)
		if len(ids.exclusive) == 0 {
			continue
		}
		if p.anchor == "" {
			p.anchor = ids.exclusive[0]
			g.add(p.anchor)
			p.ids = []string{p.anchor}
		}
		tied, refused := g.link(p.anchor, ids.exclusive, true)
		p.ids = append(p.ids, tied[1:]...)
		if len(tied) > 1 || len(refused) > 0 {
			p.outcome = append(p.outcome, evidenceOf(p.o, tied, refused)...)
		}
	}
	return ps
}

// trustedNodes is what a trusted observation ties, its anchor first: its
// stable identifiers and randomised MACs by rank, and when it has no
// stable identifier its observer and hostname (unless a host id or UUID
// will name it in pass 2).
func trustedNodes(o *Observation, ids obsIDs) []string {
	nodes := append(append([]string(nil), ids.strong...), ids.rand...)
	if len(ids.strong) == 0 {
		if len(ids.rand) == 0 && len(ids.exclusive) == 0 {
			return nil
		}
		if len(ids.exclusive) == 0 {
			nodes = append([]string{seenName(o)}, nodes...)
		}
	}
	sort.SliceStable(nodes, func(i, j int) bool { return rank(nodes[i]) < rank(nodes[j]) })
	return nodes
}

// foldSNMPInterfaces gives each device that described itself over SNMP the
// MACs of its other interfaces: the observations of one walk whose Via is
// the address the device answered on (a router's second interface, on
// another subnet). A device's own SNMP agent is trusted, so those MACs are
// the same device; without this, a registered router's second interface
// would look like an unregistered device. The input is not modified.
func foldSNMPInterfaces(obs []Observation) []Observation {
	type walk struct {
		observer, ip string
		at           time.Time
	}
	main := map[walk]int{}
	for i, o := range obs {
		if o.Method == "snmp" && o.Via == "" && o.IP != "" {
			main[walk{o.Observer, o.IP, o.At}] = i
		}
	}
	var out []Observation
	for _, o := range obs {
		if o.Method != "snmp" || o.Via == "" || o.MAC == "" {
			continue
		}
		i, ok := main[walk{o.Observer, o.Via, o.At}]
		if !ok {
			continue
		}
		if out == nil {
			out = slices.Clone(obs)
		}
		if !slices.Contains(out[i].MACs, o.MAC) && out[i].MAC != o.MAC {
			out[i].MACs = append(slices.Clone(out[i].MACs), o.MAC)
		}
	}
	if out == nil {
		return obs
	}
	return out
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func rank(id string) int {
	typ, _, _ := strings.Cut(id, ":")
	return priority[typ]
}

func evidenceOf(o *Observation, tied []string, refused map[string]string) []Evidence {
	t := append([]string(nil), tied...)
	sort.Strings(t)
	out := []Evidence{{Tied: t, Outcome: "tied", Method: o.Method, Observer: o.Observer, Ref: o.Ref, FirstSeen: o.since(), LastSeen: o.At, Count: o.count()}}
	var keys []string
	for k := range refused {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, Evidence{Tied: []string{tied[0], k}, Outcome: "refused: " + refused[k], Method: o.Method, Observer: o.Observer, Ref: o.Ref, FirstSeen: o.since(), LastSeen: o.At, Count: o.count()})
	}
	return out
}

// DeviceID names the device whose most stable identifier is anchor.
func DeviceID(anchor string) string {
	sum := sha256.Sum256([]byte(anchor))
	return "dev-" + hex.EncodeToString(sum[:8])
}

// sightings is what a device's observations add up to beside its
// identifiers: names and addresses with when they were last seen, sets
// (observers, methods, switch ports), vendor and kind votes, evidence.
type sightings struct {
	hosts, ips     map[string]time.Time
	set            map[string]map[string]bool
	vendors, kinds map[string]int
	ev             map[evKey]*Evidence

	// Kept for the next device: describe's working memory, and the names
	// of the subnets it found.
	subnets map[string]bool
	names   map[subnetKey]string
	evs     evSorter
}

func newSightings() sightings {
	return sightings{hosts: map[string]time.Time{}, ips: map[string]time.Time{}, set: map[string]map[string]bool{},
		vendors: map[string]int{}, kinds: map[string]int{}, ev: map[evKey]*Evidence{}, subnets: map[string]bool{}, names: map[subnetKey]string{}}
}

// reset empties the sightings for the next device, keeping the memory of
// the maps that stayed small (see emptied).
func (a *sightings) reset() {
	a.hosts, a.ips = emptied(a.hosts), emptied(a.ips)
	for k, m := range a.set {
		a.set[k] = emptied(m)
	}
	a.vendors, a.kinds, a.ev = emptied(a.vendors), emptied(a.kinds), emptied(a.ev)
	a.subnets = emptied(a.subnets)
	a.evs.reset()
}

// emptied returns m emptied: cleared when it is not big, a new map when it
// is. A cleared map keeps its capacity, and ranging over it costs that
// capacity however few entries it holds: one device seen at a thousand
// addresses would make every later device slow to describe. Up to a few
// hundred entries that cost is small, and less than making the map again
// for the next device (a phone with randomised MACs has dozens of pieces
// of evidence).
func emptied[K comparable, V any](m map[K]V) map[K]V {
	if len(m) > 256 {
		return make(map[K]V)
	}
	clear(m)
	return m
}

// evOrder places a piece of evidence in a device's list: by first sighting,
// then by what it says (its key, keyBuf[lo:hi], made once).
type evOrder struct {
	first  time.Time
	lo, hi int
	e      *Evidence
}

// evSorter puts evidence in the order a device shows it (evOrder); its
// memory is reused from device to device.
type evSorter struct {
	order  []evOrder
	keyBuf []byte
}

// reset empties s for the next device, dropping what it pointed to and
// memory grown big.
func (s *evSorter) reset() {
	clear(s.order)
	if cap(s.order) > 1024 {
		s.order = nil
	}
	s.order = s.order[:0]
	if cap(s.keyBuf) > 64<<10 {
		s.keyBuf = nil
	}
	s.keyBuf = s.keyBuf[:0]
}

// add places e (which must stay put until sorted).
func (s *evSorter) add(e *Evidence) {
	lo := len(s.keyBuf)
	s.keyBuf = appendEvidenceKey(s.keyBuf, e)
	s.order = append(s.order, evOrder{e.FirstSeen, lo, len(s.keyBuf), e})
}

// sorted returns a copy of the evidence added, in order; nil if none.
func (s *evSorter) sorted() []Evidence {
	keyBuf := s.keyBuf
	slices.SortFunc(s.order, func(x, y evOrder) int {
		if c := x.first.Compare(y.first); c != 0 {
			return c
		}
		return bytes.Compare(keyBuf[x.lo:x.hi], keyBuf[y.lo:y.hi])
	})
	if len(s.order) == 0 {
		return nil
	}
	out := make([]Evidence, 0, len(s.order))
	for _, o := range s.order {
		out = append(out, *o.e)
	}
	return out
}

// evKey is what evidence merges on: the identifiers it tied (joined), the
// outcome, and how and by whom it was seen.
type evKey struct{ tied, outcome, method, observer string }

func keyOf(e *Evidence) evKey {
	t := ""
	switch len(e.Tied) {
	case 0:
	case 1:
		t = e.Tied[0]
	default:
		t = strings.Join(e.Tied, ",")
	}
	return evKey{t, e.Outcome, e.Method, e.Observer}
}

// describe fills d from its identifiers (MACs, serials, agents; the
// identifiers sorted by rank) and from what was seen (names, addresses,
// subnets, ports, vendor, kinds, the latest evidence).
func (a *sightings) describe(d *Device, subnets []netip.Prefix) {
	for _, x := range d.Identifiers {
		typ, v, _ := strings.Cut(x.ID, ":")
		switch typ {
		case IDMAC, IDRandMAC:
			d.MACs = append(d.MACs, v)
		case IDSerial:
			d.Serials = append(d.Serials, v)
		case IDAgent:
			d.Agents = append(d.Agents, v)
		}
	}
	slices.SortFunc(d.Identifiers, compareIdentifiers)
	sort.Strings(d.MACs)
	sort.Strings(d.Serials)
	sort.Strings(d.Agents)
	d.Hostnames = latest(a.hosts, 5)
	d.IPs = latest(a.ips, 5)
	d.Observers = keys(a.set["observer"])
	d.Methods = keys(a.set["method"])
	for ip := range a.ips {
		if sn := a.subnetOf(ip, subnets); sn != "" {
			a.subnets[sn] = true
		}
	}
	d.Subnets = keys(a.subnets)
	d.SwitchPorts = keys(a.set["port"])
	if v := top(a.vendors, 1); len(v) == 1 {
		d.Vendor = v[0]
	}
	d.Kinds = top(a.kinds, 3)
	for _, e := range a.ev {
		a.evs.add(e)
	}
	d.Evidence = a.evs.sorted()
	if len(d.Evidence) > maxEvidence {
		d.Evidence = d.Evidence[len(d.Evidence)-maxEvidence:]
	}
}

// appendEvidenceKey appends what evidence is ordered by after its first
// sighting: the tied identifiers (joined by commas), outcome, method and
// observer, run together.
func appendEvidenceKey(b []byte, e *Evidence) []byte {
	for i, t := range e.Tied {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, t...)
	}
	return append(append(append(b, e.Outcome...), e.Method...), e.Observer...)
}

// compareIdentifiers orders a device's identifiers: by rank, then by id.
func compareIdentifiers(x, y Identifier) int {
	if c := cmp.Compare(rank(x.ID), rank(y.ID)); c != 0 {
		return c
	}
	return strings.Compare(x.ID, y.ID)
}

type acc struct {
	sightings
	d      *Device
	ids    map[string]*Identifier
	anchor string
}

func build(g *graph, ps []*placed, subnets []netip.Prefix) []Device {
	comps := map[string]*acc{}
	get := func(root string) *acc {
		a := comps[root]
		if a == nil {
			a = &acc{sightings: newSightings(), d: &Device{}, ids: map[string]*Identifier{}}
			comps[root] = a
		}
		return a
	}
	addSet := func(a *acc, name, v string) {
		if v == "" {
			return
		}
		if a.set[name] == nil {
			a.set[name] = map[string]bool{}
		}
		a.set[name][v] = true
	}
	for id := range g.parent {
		a := get(g.find(id))
		a.ids[id] = &Identifier{ID: id}
		if a.anchor == "" || rank(id) < rank(a.anchor) || rank(id) == rank(a.anchor) && id < a.anchor {
			a.anchor = id
		}
	}
	for _, p := range ps {
		if p.anchor == "" {
			continue
		}
		a := get(g.find(p.anchor))
		o := p.o
		d := a.d
		d.Observations++
		if d.FirstSeen.IsZero() || o.At.Before(d.FirstSeen) {
			d.FirstSeen = o.At
		}
		if o.At.After(d.LastSeen) {
			d.LastSeen = o.At
		}
		for _, id := range p.ids {
			if x := a.ids[id]; x != nil {
				if x.FirstSeen.IsZero() || o.At.Before(x.FirstSeen) {
					x.FirstSeen = o.At
				}
				if o.At.After(x.LastSeen) {
					x.LastSeen = o.At
				}
			}
		}
		if h := strings.ToLower(strings.TrimSpace(o.Hostname)); h != "" && (a.hosts[h].IsZero() || o.At.After(a.hosts[h])) {
			a.hosts[h] = o.At
		}
		if o.IP != "" && (o.At.After(a.ips[o.IP]) || a.ips[o.IP].IsZero()) {
			a.ips[o.IP] = o.At
		}
		if o.Vendor != "" {
			a.vendors[o.Vendor]++
		}
		for i, k := range o.Kinds {
			a.kinds[k] += len(o.Kinds) - i
		}
		addSet(a, "observer", o.Observer)
		addSet(a, "method", o.Method)
		if o.Method == "snmp-fdb" && o.Port != "" {
			addSet(a, "port", strings.TrimSpace(o.Via+" port "+o.Port))
		}
		for _, e := range p.outcome {
			key := keyOf(&e)
			x := a.ev[key]
			if x == nil {
				e := e
				a.ev[key] = &e
				continue
			}
			x.Count++
			if e.FirstSeen.Before(x.FirstSeen) {
				x.FirstSeen = e.FirstSeen
			}
			if !e.LastSeen.Before(x.LastSeen) {
				x.LastSeen, x.Ref = e.LastSeen, e.Ref
			}
		}
	}
	out := make([]Device, 0, len(comps))
	for _, a := range comps {
		d := a.d
		if d.Observations == 0 {
			continue
		}
		d.ID = DeviceID(a.anchor)
		d.Anonymous = rank(a.anchor) >= priority[IDRandMAC]
		for _, x := range a.ids {
			d.Identifiers = append(d.Identifiers, *x)
		}
		a.describe(d, subnets)
		out = append(out, *d)
	}
	return sortedByID(out, func(d *Device) string { return d.ID })
}

const maxEvidence = 200

func latest(m map[string]time.Time, n int) []string {
	type kt struct {
		k string
		t time.Time
	}
	kts := make([]kt, 0, len(m))
	for k, t := range m {
		kts = append(kts, kt{k, t})
	}
	slices.SortFunc(kts, func(a, b kt) int {
		if c := b.t.Compare(a.t); c != 0 {
			return c
		}
		return strings.Compare(a.k, b.k)
	})
	ks := make([]string, 0, min(n, len(kts)))
	for _, x := range kts[:min(n, len(kts))] {
		ks = append(ks, x.k)
	}
	return ks
}

// sortedByID returns xs sorted by their ids (unique): it sorts positions,
// then moves each element once, where sorting xs itself would swap its big
// structs many times over.
func sortedByID[T any](xs []T, id func(*T) string) []T {
	if len(xs) < 2 {
		return xs
	}
	idx := make([]int32, len(xs))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int { return strings.Compare(id(&xs[a]), id(&xs[b])) })
	out := make([]T, len(xs))
	for i, j := range idx {
		out[i] = xs[j]
	}
	return out
}

func keys(m map[string]bool) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func top(m map[string]int, n int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return m[ks[i]] > m[ks[j]] || m[ks[i]] == m[ks[j]] && ks[i] < ks[j] })
	if len(ks) > n {
		ks = ks[:n]
	}
	return ks
}

// subnetName names a subnet: an assumed one is marked so.
func subnetName(p netip.Prefix, assumed bool) string {
	if assumed {
		return p.String() + " (assumed)"
	}
	return p.String()
}

// subnetPrefix locates ip in the most specific known prefix, else in its
// /24 or /64, assumed.
func subnetPrefix(ip string, known []netip.Prefix) (p netip.Prefix, assumed, ok bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return p, false, false
	}
	a = a.Unmap()
	best := netip.Prefix{}
	for _, p := range known {
		if p.Contains(a) && (!best.IsValid() || p.Bits() > best.Bits()) {
			best = p
		}
	}
	if best.IsValid() {
		return best.Masked(), false, true
	}
	bits := 24
	if a.Is6() {
		bits = 64
	}
	p, _ = a.Prefix(bits)
	return p, true, true
}

// subnetOf names the subnet of ip (subnetPrefix), making each name once.
func (a *sightings) subnetOf(ip string, known []netip.Prefix) string {
	p, assumed, ok := subnetPrefix(ip, known)
	if !ok {
		return ""
	}
	k := subnetKey{p, assumed}
	if n, ok := a.names[k]; ok {
		return n
	}
	if len(a.names) >= 4096 {
		clear(a.names)
	}
	n := subnetName(p, assumed)
	a.names[k] = n
	return n
}

type subnetKey struct {
	p       netip.Prefix
	assumed bool
}
