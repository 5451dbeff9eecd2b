// Package scan runs a whole network scan of a target set — the sweep,
// SNMP, mDNS and name lookups — and merges what they found per host into
// a discovery. Both `umbra-agent scan` and collector scan jobs run it.
package scan

import (
	"cmp"
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/identify"
	"github.com/umbrasec/umbra/agent/internal/discovery/mdns"
	"github.com/umbrasec/umbra/agent/internal/discovery/oui"
	"github.com/umbrasec/umbra/agent/internal/discovery/snmp"
	"github.com/umbrasec/umbra/agent/internal/discovery/sweep"
	"github.com/umbrasec/umbra/agent/internal/discovery/target"
	"github.com/umbrasec/umbra/shared/ident"
	"github.com/umbrasec/umbra/shared/wire"
)

// Options say what to scan and how.
type Options struct {
	// Set is what to scan; nothing else is sent to.
	Set *target.Set
	// Targets and Excluded are recorded in the discovery as given.
	Targets, Excluded []string
	Profile           sweep.Profile
	// Credentials are tried on live hosts over SNMP.
	Credentials []snmp.Credential
	NoSweep     bool // no ARP/ICMP/TCP sweep: SNMP and names only reach hosts already known
	NoSNMP      bool
	NoMDNS      bool
	NoNames     bool
	// Progress, if not nil, is called as the scan goes on, from the
	// scanning goroutine.
	Progress func(Progress)
	// Stream, if not nil, is handed observations during the scan as they
	// become final: every host's sweep observations when the sweep ends,
	// an SNMP device's when its probe ends, the mDNS ones when the browse
	// ends, a host's names when its lookups end. A host's kind verdict
	// comes with the first of its observations whose evidence changes it,
	// and at the end when the last evidence changed it again. Calls never
	// overlap and all happen before Run returns; Stream must not keep the
	// slice. With Stream set, Result.Discovery.Observations holds only
	// what was not streamed, while Result.Rows still hold every host with
	// all its observations.
	Stream func([]wire.Observation)
}

// Progress of a running scan.
type Progress struct {
	Phase   string // arp, icmp, tcp, snmp, done
	Probed  int    // addresses probed (estimated within a sweep phase)
	Total   int    // addresses to probe
	Found   int    // live hosts so far
	Percent float64
	// ETA estimates the time left; negative when unknown.
	ETA time.Duration
	// Sweep is the sweep's own report, during the sweep.
	Sweep *sweep.Progress
}

// Result is a finished scan.
type Result struct {
	Discovery wire.Discovery
	Rows      []*Row
	// Streamed counts the observations handed to Options.Stream.
	Streamed int
}

// the share of the sweep phases in the whole scan's percent
var phaseSpan = map[string][2]float64{"arp": {0, 40}, "icmp": {40, 60}, "tcp": {60, 90}}

// Run scans opt.Set and returns what it found. When ctx is cancelled it
// returns what it found so far.
func Run(ctx context.Context, opt Options) Result {
	set := opt.Set
	n := set.Len()
	started := time.Now()
	report := opt.Progress
	if report == nil {
		report = func(Progress) {}
	}
	best := 0.0
	emit := func(phase string, pct float64, found int, sp *sweep.Progress) {
		best = max(best, min(pct, 100))
		p := Progress{Phase: phase, Total: n, Found: found, Percent: best, ETA: -1, Sweep: sp}
		p.Probed = min(n, int(float64(n)*min(best, 90)/90))
		if best >= 2 && best < 100 {
			el := time.Since(started)
			p.ETA = time.Duration(float64(el) * (100 - best) / best).Round(time.Second)
		} else if best >= 100 {
			p.ETA = 0
		}
		report(p)
	}

	// mDNS listens while the sweep runs: it only sends queries on the
	// interfaces of target subnets, and keeps only target addresses.
	var svcs []mdns.Service
	var mdnsErr error
	var wg sync.WaitGroup
	st := newStreamer(opt.Stream)
	if ifaces := targetInterfaces(set); !opt.NoMDNS && len(ifaces) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svcs, mdnsErr = mdns.Browse(ctx, mdns.Options{Wait: 2 * time.Second, Interfaces: ifaces})
			svcs = slices.DeleteFunc(svcs, func(s mdns.Service) bool {
				s.Addrs = slices.DeleteFunc(s.Addrs, func(a netip.Addr) bool { return !set.Contains(a) })
				return len(s.Addrs) == 0
			})
			st.mdnsDone(svcs)
		}()
	}
	var res sweep.Result
	if !opt.NoSweep {
		sw := sweep.New(opt.Profile)
		if st != nil {
			sw.OnPhaseDone(st.phaseDone)
		}
		res = sw.Sweep(ctx, set, func(pr sweep.Progress) {
			span, ok := phaseSpan[pr.Phase]
			if !ok {
				span = [2]float64{0, 90}
			}
			frac := 0.0
			if pr.Total > 0 {
				frac = min(1, float64(pr.Sent)/float64(pr.Total))
			}
			emit(pr.Phase, span[0]+frac*(span[1]-span[0]), pr.Found, &pr)
		})
	}

	st.sweepDone(res.Hosts)

	var live []netip.Addr
	for _, h := range res.Hosts {
		live = append(live, h.Addr)
	}
	var devices []snmp.Result
	var names map[netip.Addr]hostNames
	if len(live) > 0 && ctx.Err() == nil {
		emit("snmp", 90, len(live), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !opt.NoSNMP && len(opt.Credentials) > 0 {
				// The fast profile gives an SNMP request 400 ms (twice, with
				// the retry): a device that listens but takes none of our
				// credentials costs 0.8 s rather than 2 s.
				timeout := time.Second
				if opt.Profile.Name == sweep.Fast.Name {
					timeout = 400 * time.Millisecond
				}
				devices = snmp.New(snmp.Options{Credentials: opt.Credentials, Timeout: timeout, Concurrency: 32}).ProbeEach(ctx, live, st.device)
			}
		}()
		if !opt.NoNames {
			names = lookupNames(ctx, live, st.names)
		}
	}
	wg.Wait()
	finished := time.Now()

	d := wire.Discovery{
		StartedAt:    started.UTC(),
		FinishedAt:   finished.UTC(),
		Targets:      opt.Targets,
		Excluded:     opt.Excluded,
		Profile:      opt.Profile.Name,
		Observations: []wire.Observation{},
	}
	for _, e := range res.Errors {
		d.Errors = append(d.Errors, wire.SourceError{Source: "sweep", Error: e.Error()})
	}
	if mdnsErr != nil && ctx.Err() == nil {
		d.Errors = append(d.Errors, wire.SourceError{Source: "mdns", Error: mdnsErr.Error()})
	}
	rows := mergeScan(res.Hosts, devices, svcs, names, finished)
	streamed := 0
	if st != nil {
		d.Observations, streamed = st.rest(rows), st.n
	} else {
		for _, r := range rows {
			d.Observations = append(d.Observations, r.Obs...)
		}
	}
	if ctx.Err() == nil {
		emit("done", 100, len(live), nil)
	}
	return Result{Discovery: d, Rows: rows, Streamed: streamed}
}

// targetInterfaces returns the up, multicast interfaces with an IPv4
// subnet that overlaps the targets: the links mDNS may be browsed on.
func targetInterfaces(set *target.Set) []net.Interface {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []net.Interface
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagMulticast == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil {
				continue
			}
			ones, bits := ipn.Mask.Size()
			if bits != 32 {
				continue
			}
			if overlaps(netip.PrefixFrom(netip.AddrFrom4([4]byte(ipn.IP.To4())), ones), set) {
				out = append(out, ifc)
				break
			}
		}
	}
	return out
}

func overlaps(p netip.Prefix, set *target.Set) bool {
	first := p.Masked().Addr()
	b := first.As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	last := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	for _, r := range set.Ranges() {
		if r.From.Compare(last) <= 0 && first.Compare(r.To) <= 0 {
			return true
		}
	}
	return false
}

// isLocalAddr reports whether a is one of this machine's addresses.
func isLocalAddr(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if ipn, ok := x.(*net.IPNet); ok {
			if b, ok := netip.AddrFromSlice(ipn.IP); ok && b.Unmap() == a {
				return true
			}
		}
	}
	return false
}

type hostNames struct {
	dns, netbios, workgroup string
}

// lookupNames asks reverse DNS and NetBIOS for the names of live hosts, a
// few at a time, each bounded in time. each, if not nil, gets every
// host's names as soon as they are known, from the lookup goroutines.
func lookupNames(ctx context.Context, addrs []netip.Addr, each func(netip.Addr, hostNames)) map[netip.Addr]hostNames {
	out := make(map[netip.Addr]hostNames, len(addrs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, a := range addrs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var n hostNames
			n.dns, _ = identify.ReverseDNS(ctx, nil, a, time.Second)
			if st, ok, _ := identify.QueryNetBIOS(ctx, a, 600*time.Millisecond); ok {
				n.netbios, n.workgroup = st.Hostname(), st.Workgroup()
			}
			mu.Lock()
			out[a] = n
			mu.Unlock()
			if each != nil {
				each(a, n)
			}
		}()
	}
	wg.Wait()
	return out
}

// Row is one host of the result: what every method said about it.
type Row struct {
	Addr    netip.Addr
	MAC     string
	Vendor  string
	Kind    string
	Name    string
	Methods []string
	RTT     time.Duration
	Ports   []int
	Descr   string
	Obs     []wire.Observation
}

// mergeScan merges the sweep, SNMP, mDNS and name results per host and
// decides each host's kind from all its evidence. Hosts that only a
// router's ARP table knows (other subnets) get rows too.
func mergeScan(hosts []sweep.Host, devs []snmp.Result, svcs []mdns.Service, names map[netip.Addr]hostNames, at time.Time) []*Row {
	rows := map[netip.Addr]*Row{}
	row := func(a netip.Addr) *Row {
		if rows[a] == nil {
			rows[a] = &Row{Addr: a}
		}
		return rows[a]
	}
	addMethod := func(r *Row, m string) {
		if !slices.Contains(r.Methods, m) {
			r.Methods = append(r.Methods, m)
		}
	}
	evidence := map[netip.Addr]*identify.Evidence{}
	ev := func(a netip.Addr) *identify.Evidence {
		if evidence[a] == nil {
			evidence[a] = &identify.Evidence{}
		}
		return evidence[a]
	}
	for _, h := range hosts {
		r := row(h.Addr)
		r.Obs = append(r.Obs, h.Observations("", oui.Lookup)...)
		for _, m := range h.Methods {
			addMethod(r, string(m))
		}
		r.RTT, r.Ports = h.RTT, h.OpenPorts
		if m, err := ident.ParseMAC(h.MAC.String()); err == nil {
			r.MAC = m.String()
		}
		ev(h.Addr).OpenPorts = h.OpenPorts
	}
	var arpLearned []wire.Observation
	for _, res := range devs {
		dv := res.Device
		if dv == nil {
			continue
		}
		r := row(dv.Addr)
		obs := snmp.Observations(dv, at, "", oui.Lookup)
		r.Obs = append(r.Obs, obs...)
		addMethod(r, "snmp")
		e := ev(dv.Addr)
		de := dv.Evidence()
		e.SysObjectID, e.SysDescr, e.SysServices, e.HostResources = de.SysObjectID, de.SysDescr, de.SysServices, de.HostResources
		r.Name = dv.System.Name
		r.Descr = dv.System.Descr
		if r.MAC == "" {
			r.MAC = dv.PrimaryMAC()
		}
		for _, o := range obs {
			if o.Method == wire.MethodSNMPARP {
				arpLearned = append(arpLearned, o)
			}
		}
	}
	// Hosts only a router's ARP table knows: rows of their own, after
	// every host the sweep found.
	for _, o := range arpLearned {
		a, err := netip.ParseAddr(o.IP)
		if err != nil {
			continue
		}
		if _, known := rows[a]; !known && !isLocalAddr(a) {
			r := row(a)
			r.MAC = o.MAC
			addMethod(r, "snmp-arp")
		}
	}
	by := mdns.ByAddr(svcs)
	for a, ss := range by {
		r := row(a)
		addMethod(r, "mdns")
		ev(a).MDNSServices = mdns.Types(ss)
		if r.Name == "" {
			for _, s := range ss {
				if s.Host != "" {
					r.Name = strings.TrimSuffix(s.Host, ".local")
					break
				}
			}
		}
		if r.Descr == "" {
			r.Descr = mdns.Model(ss)
		}
	}
	for _, o := range mdns.Observations(svcs, at, "") {
		a, _ := netip.ParseAddr(o.IP)
		row(a).Obs = append(row(a).Obs, o)
	}
	for a, n := range names {
		r, ok := rows[a]
		if !ok {
			continue
		}
		r.Obs = append(r.Obs, nameObservations(a, n, at)...)
		if n.dns != "" {
			addMethod(r, "dns")
		}
		if n.netbios != "" {
			addMethod(r, "netbios")
		}
		r.Name = cmp.Or(r.Name, n.netbios, n.dns)
	}
	return finishRows(rows, evidence)
}

// nameObservations turns a host's names into observations.
func nameObservations(a netip.Addr, n hostNames, at time.Time) []wire.Observation {
	var out []wire.Observation
	if n.dns != "" {
		out = append(out, wire.Observation{ObservedAt: at.UTC().Truncate(time.Millisecond), Method: wire.MethodDNS, IP: a.String(), Hostname: n.dns})
	}
	if n.netbios != "" {
		o := wire.Observation{ObservedAt: at.UTC().Truncate(time.Millisecond), Method: wire.MethodNetBIOS, IP: a.String(), Hostname: n.netbios}
		if n.workgroup != "" {
			o.Evidence = []wire.Evidence{{Key: "netbios.workgroup", Value: n.workgroup}}
		}
		out = append(out, o)
	}
	return out
}

func finishRows(rows map[netip.Addr]*Row, evidence map[netip.Addr]*identify.Evidence) []*Row {
	out := make([]*Row, 0, len(rows))
	for a, r := range rows {
		e := evidence[a]
		if e == nil {
			e = &identify.Evidence{}
		}
		if m, err := ident.ParseMAC(r.MAC); err == nil {
			e.MACVendor, e.MACLocal = oui.Lookup(m)
		}
		v := identify.Classify(*e)
		r.Kind, r.Vendor = v.Kind, v.Vendor
		if e.MACLocal && r.Vendor == "" {
			r.Vendor = "(randomised)"
		}
		// The host's own first observation carries the verdict.
		if v.Kind != wire.KindUnknown {
			for i := range r.Obs {
				if r.Obs[i].IP == a.String() && r.Obs[i].Via == "" {
					r.Obs[i].Kinds = v.Hints
					if len(r.Obs[i].Kinds) > wire.MaxObservationItems {
						r.Obs[i].Kinds = r.Obs[i].Kinds[:wire.MaxObservationItems]
					}
					break
				}
			}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Row) int { return a.Addr.Compare(b.Addr) })
	return out
}
