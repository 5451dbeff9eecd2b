// Package sweep finds the live hosts among a set of target addresses: ARP
// on directly attached subnets, ICMP echo, and TCP connect on a small port
// set, merged per host. Every packet goes through a rate limiter (ARP
// requests through their own, as ARP runs alone, first) and every socket
// through one concurrency cap; a sweep returns when its
// context is cancelled, leaving no goroutine or socket behind. It sends to
// nothing outside the target set.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/target"
	"github.com/umbrasec/umbra/shared/wire"
)

// DefaultPorts are the TCP ports probed on every live host, and used as a
// liveness probe (a handshake or a reset) where ARP does not reach: remote
// access, web, file sharing, printing, cameras.
var DefaultPorts = []int{22, 23, 80, 135, 139, 443, 445, 554, 631, 3389, 8080, 9100}

// LivenessPorts are tried, in order, on addresses that neither ARP nor ICMP
// found alive, before the full port set is tried on live hosts only.
var LivenessPorts = []int{443, 80, 22, 445, 3389}

// Profile sets the pace of a sweep.
type Profile struct {
	Name string
	// Rate caps the packets (ICMP, TCP SYN, and ARP unless ARPRate says
	// otherwise) sent per second, across every method.
	Rate int
	// ARPRate caps the ARP requests per second on a directly attached
	// link; 0 means Rate. ARP runs alone, before any other method, so the
	// scan never sends faster than the larger of the two. An ARP request
	// is one 60-byte broadcast frame that only the address's owner
	// answers: 1,000 a second is about 0.5 Mbit/s, which no LAN notices,
	// and a dead address costs one retry rather than a TCP timeout.
	ARPRate int
	// Concurrency caps the TCP connections in flight.
	Concurrency int
	// Retries is how many more times an unanswered ARP or ICMP probe is
	// sent.
	Retries int
	// MinWait and MaxWait bound how long to wait for answers after a pass;
	// within them the wait follows the round-trip times measured so far.
	MinWait, MaxWait time.Duration
	// Ports are the TCP ports probed on every live host; empty for
	// liveness only (like nmap -sn). Addresses that neither ARP nor ICMP
	// found are still tried on LivenessPorts.
	Ports []int
}

// The profiles. Polite is the default: on a directly attached /24 it
// finishes in about a second (ARP at up to 1,000 requests a second, one
// retry, an adaptive wait of at least 250 ms), sends nothing more to the
// addresses ARP proved dead, and then probes the ports of live hosts at
// 400 packets a second.
var (
	Polite = Profile{Name: "polite", Rate: 400, ARPRate: 1000, Concurrency: 128, Retries: 1,
		MinWait: 250 * time.Millisecond, MaxWait: 2 * time.Second, Ports: DefaultPorts}
	Fast = Profile{Name: "fast", Rate: 10000, Concurrency: 512, Retries: 1,
		MinWait: 60 * time.Millisecond, MaxWait: time.Second, Ports: DefaultPorts}
)

// ProfileByName returns the named profile.
func ProfileByName(name string) (Profile, error) {
	switch name {
	case "", "polite":
		return Polite, nil
	case "fast":
		return Fast, nil
	}
	return Profile{}, fmt.Errorf("unknown profile %q (want polite or fast)", name)
}

// Host is one live host and how it was seen.
type Host struct {
	Addr      netip.Addr
	MAC       net.HardwareAddr // from ARP; nil when not on a local subnet
	Methods   []wire.Method    // arp, icmp, tcp: every method that got an answer
	RTT       time.Duration    // the first answer's round-trip time
	OpenPorts []int            // TCP ports that completed a handshake
	SeenAt    time.Time
}

// Progress is reported while a sweep runs.
type Progress struct {
	Phase string // arp, icmp, tcp
	Sent  int    // probes sent in this phase
	Total int    // probes this phase will send at least
	Found int    // live hosts so far
}

// Scanner runs sweeps. Its zero value is not usable: call New.
type Scanner struct {
	p      Profile
	lim    *limiter // every packet but ARP
	arpLim *limiter // ARP requests
	// interfaces lists the local interfaces; a field so tests can pretend.
	interfaces func() ([]localIface, error)
	// noICMP leaves ICMP out (tests without raw socket privilege).
	noICMP bool
	// phaseDone, if not nil, hears of each method's phase ending.
	phaseDone func(wire.Method, []Host)
}

// OnPhaseDone makes the sweep call fn, from the sweeping goroutine, when
// the ARP phase and the ICMP phase end, with every host found so far.
// A host's observation by that method is final then (the TCP one only
// when Sweep returns: open ports are probed last), so a caller can send
// it on before the sweep ends.
func (s *Scanner) OnPhaseDone(fn func(m wire.Method, hosts []Host)) *Scanner {
	s.phaseDone = fn
	return s
}

func (s *Scanner) endPhase(m wire.Method, st *state) {
	if s.phaseDone != nil {
		s.phaseDone(m, st.list())
	}
}

// New returns a scanner with profile p. Rates and caps below 1 are raised
// to 1.
func New(p Profile) *Scanner {
	p.Rate = max(p.Rate, 1)
	if p.ARPRate <= 0 {
		p.ARPRate = p.Rate
	}
	p.Concurrency = max(p.Concurrency, 1)
	p.Retries = max(p.Retries, 0)
	if p.MinWait <= 0 {
		p.MinWait = 50 * time.Millisecond
	}
	p.MaxWait = max(p.MaxWait, p.MinWait)
	return &Scanner{p: p, lim: newLimiter(p.Rate), arpLim: newLimiter(p.ARPRate), interfaces: localInterfaces}
}

// Result is what a sweep found.
type Result struct {
	Hosts []Host
	// Errors are methods that failed or could not run (no privilege for
	// raw sockets, …); the others still ran.
	Errors []error
}

// Sweep probes every address of set and returns the live hosts in address
// order. progress, if not nil, is called from the sweeping goroutine.
// When ctx is cancelled, Sweep returns what it found so far with ctx's
// error among Result.Errors.
func (s *Scanner) Sweep(ctx context.Context, set *target.Set, progress func(Progress)) Result {
	if progress == nil {
		progress = func(Progress) {}
	}
	st := &state{hosts: map[netip.Addr]*Host{}, rtt: newRTT(s.p.MinWait, s.p.MaxWait)}
	var res Result

	// 1. ARP on directly attached subnets: authoritative for liveness there.
	local := map[netip.Addr]bool{}
	ifaces, err := s.interfaces()
	if err != nil {
		res.Errors = append(res.Errors, fmt.Errorf("listing interfaces: %w", err))
	}
	groups := map[int][]netip.Addr{}
	var byIndex = map[int]localIface{}
	own := map[netip.Addr]bool{}
	for _, ifc := range ifaces {
		own[ifc.Addr] = true
	}
	for a := range set.All() {
		if own[a] {
			continue
		}
		for _, ifc := range ifaces {
			if a.Is4() && ifc.Prefix.Contains(a) && len(ifc.MAC) == 6 {
				groups[ifc.Index] = append(groups[ifc.Index], a)
				byIndex[ifc.Index] = ifc
				break
			}
		}
	}
	arpOK := true
	for idx, addrs := range groups {
		err := s.arpSweep(ctx, byIndex[idx], addrs, st, progress)
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				res.Errors = append(res.Errors, fmt.Errorf("arp on %s: %w", byIndex[idx].Name, err))
			}
			arpOK = false
			continue
		}
		for _, a := range addrs {
			local[a] = true
		}
	}
	if !arpOK && ctx.Err() == nil {
		local = map[netip.Addr]bool{} // ICMP and TCP must cover what ARP could not
	}
	if len(groups) > 0 {
		s.endPhase(wire.MethodARP, st)
	}

	// 2. ICMP echo to every target ARP did not cover.
	var rest []netip.Addr
	for a := range set.All() {
		if !local[a] && !own[a] && ctx.Err() == nil {
			rest = append(rest, a)
		}
	}
	if len(rest) > 0 && ctx.Err() == nil && !s.noICMP {
		if err := s.icmpSweep(ctx, rest, st, progress); err != nil && ctx.Err() == nil {
			res.Errors = append(res.Errors, fmt.Errorf("icmp: %w", err))
		}
		s.endPhase(wire.MethodICMP, st)
	}

	// 3. TCP liveness of what neither ARP nor ICMP found (a reset counts
	// as alive), a few likely ports at a time, then the full port set on
	// every live host.
	var dark []netip.Addr
	for a := range set.All() {
		if ctx.Err() != nil {
			break
		}
		if !st.alive(a) && !local[a] && !own[a] {
			dark = append(dark, a)
		}
	}
	for _, port := range livenessPorts(s.p.Ports) {
		if ctx.Err() != nil || len(dark) == 0 {
			continue
		}
		s.tcpSweep(ctx, dark, []int{port}, st, progress)
		dark = slices.DeleteFunc(dark, st.alive)
	}
	var liveAddrs, localLive []netip.Addr
	for _, h := range st.list() {
		liveAddrs = append(liveAddrs, h.Addr)
		if local[h.Addr] {
			localLive = append(localLive, h.Addr)
		}
	}
	if len(liveAddrs) > 0 && len(s.p.Ports) > 0 && ctx.Err() == nil {
		// While the ports are probed, hosts that ARP found get one echo
		// request each (retried as usual), so that the result says which
		// of them answer ping; ARP stays the proof of life. Dead local
		// addresses get nothing more.
		var wg sync.WaitGroup
		var icmpErr error
		if len(localLive) > 0 && !s.noICMP {
			wg.Go(func() { icmpErr = s.icmpSweep(ctx, localLive, st, func(Progress) {}) })
		}
		s.tcpSweep(ctx, liveAddrs, s.p.Ports, st, progress)
		wg.Wait()
		if icmpErr != nil && ctx.Err() == nil {
			res.Errors = append(res.Errors, fmt.Errorf("icmp: %w", icmpErr))
		}
	}
	if err := ctx.Err(); err != nil {
		res.Errors = append(res.Errors, err)
	}
	res.Hosts = st.list()
	return res
}

// state collects answers; every method writes to it.
type state struct {
	mu    sync.Mutex
	hosts map[netip.Addr]*Host
	rtt   *rttEstimator
}

func (st *state) add(a netip.Addr, m wire.Method, mac net.HardwareAddr, rtt time.Duration, port int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	h := st.hosts[a]
	if h == nil {
		h = &Host{Addr: a, RTT: rtt, SeenAt: time.Now()}
		st.hosts[a] = h
	}
	if !slices.Contains(h.Methods, m) {
		h.Methods = append(h.Methods, m)
	}
	if mac != nil && h.MAC == nil {
		h.MAC = slices.Clone(mac)
	}
	if port > 0 && !slices.Contains(h.OpenPorts, port) {
		h.OpenPorts = append(h.OpenPorts, port)
	}
	if rtt > 0 {
		st.rtt.add(rtt)
	}
}

func (st *state) alive(a netip.Addr) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.hosts[a] != nil
}

func (st *state) count() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.hosts)
}

func (st *state) list() []Host {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]Host, 0, len(st.hosts))
	for _, h := range st.hosts {
		hc := *h
		slices.Sort(hc.OpenPorts)
		out = append(out, hc)
	}
	slices.SortFunc(out, func(a, b Host) int { return a.Addr.Compare(b.Addr) })
	return out
}

// localIface is one IPv4 address on a local interface.
type localIface struct {
	Index  int
	Name   string
	MAC    net.HardwareAddr
	Addr   netip.Addr
	Prefix netip.Prefix
}

func localInterfaces() ([]localIface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []localIface
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok || !ip.Unmap().Is4() {
				continue
			}
			ones, _ := ipn.Mask.Size()
			out = append(out, localIface{Index: ifi.Index, Name: ifi.Name, MAC: ifi.HardwareAddr,
				Addr: ip.Unmap(), Prefix: netip.PrefixFrom(ip.Unmap(), ones).Masked()})
		}
	}
	return out, nil
}

// limiter paces packets: a token bucket that lets at most rate packets
// through a second on average, with a burst of at most burstWindow's worth
// (200 packets at 10,000/s, 8 at 400/s; over any interval T no more than
// rate×(T+burstWindow) go out). Without the burst, a loaded machine that
// wakes the sender a few milliseconds late would lower the rate far below
// the cap: a 100 µs sleep that lasts 5 ms sends at a fiftieth of it.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func newLimiter(rate int) *limiter {
	return &limiter{interval: time.Second / time.Duration(rate)}
}

const burstWindow = 20 * time.Millisecond

// wait blocks until one more packet may be sent, or ctx is done.
func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now.Add(-burstWindow)) {
		l.next = now.Add(-burstWindow)
	}
	slot := l.next
	l.next = l.next.Add(l.interval)
	l.mu.Unlock()
	d := time.Until(slot)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// rttEstimator follows round-trip times as TCP does (RFC 6298) and turns
// them into a wait bounded by [min, max].
type rttEstimator struct {
	mu         sync.Mutex
	srtt, rttv time.Duration
	n          int
	lo, hi     time.Duration
}

func newRTT(lo, hi time.Duration) *rttEstimator { return &rttEstimator{lo: lo, hi: hi} }

func (e *rttEstimator) add(r time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == 0 {
		e.srtt, e.rttv = r, r/2
	} else {
		d := e.srtt - r
		if d < 0 {
			d = -d
		}
		e.rttv = (3*e.rttv + d) / 4
		e.srtt = (7*e.srtt + r) / 8
	}
	e.n++
}

// wait is how long to wait for late answers: the retransmission timeout
// of the samples so far, or the maximum when there are none.
func (e *rttEstimator) wait() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == 0 {
		return e.hi
	}
	return min(max(e.srtt+4*e.rttv, e.lo), e.hi)
}

// livenessPorts are the LivenessPorts among ports, or the first few of
// ports when it holds none of them.
func livenessPorts(ports []int) []int {
	if len(ports) == 0 {
		return LivenessPorts
	}
	var out []int
	for _, p := range LivenessPorts {
		if slices.Contains(ports, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = ports[:min(3, len(ports))]
	}
	return out
}
