package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
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

const scanSynopsis = "scan TARGET… [--exclude TARGET,…] [--profile polite|fast] [--max-addrs N]\n" +
	"       [--snmp-community NAME]… [--snmp-v3 user:auth:authpass:priv:privpass]… [--no-snmp] [--no-mdns] [--no-names] [--json]"

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// repeatFlag collects a repeatable flag whose values may hold commas.
type repeatFlag []string

func (l *repeatFlag) String() string     { return fmt.Sprintf("%d values", len(*l)) }
func (l *repeatFlag) Set(s string) error { *l = append(*l, s); return nil }

func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("scan", scanSynopsis, stderr)
	var excludes listFlag
	var communities, v3s repeatFlag
	fs.Var(&excludes, "exclude", "`targets` to leave out (CIDR, range or address; repeatable)")
	profile := fs.String("profile", "polite", "pace: `polite` (the default) or fast")
	maxAddrs := fs.Int("max-addrs", target.DefaultMaxAddrs, "refuse scans of more than `N` addresses")
	asJSON := fs.Bool("json", false, "print the discovery as the JSON the collector receives")
	fs.Var(&communities, "snmp-community", "SNMP v1/v2c community `NAME` to try on live hosts (repeatable; default public).\n"+
		"This flag is for the standalone tool: under the collector, scan jobs carry their credentials")
	fs.Var(&v3s, "snmp-v3", "SNMPv3 credential `user:authproto:authpass:privproto:privpass` (repeatable);\n"+
		"auth MD5, SHA, SHA224, SHA256, SHA384, SHA512; priv DES, AES, AES192, AES256, AES192C, AES256C (Cisco);\n"+
		"user:authproto:authpass for authNoPriv. Like --snmp-community, for the standalone tool only")
	noSNMP := fs.Bool("no-snmp", false, "do not read devices over SNMP")
	noMDNS := fs.Bool("no-mdns", false, "do not browse mDNS / DNS-SD on the local link")
	noNames := fs.Bool("no-names", false, "do not look names up (reverse DNS, NetBIOS node status)")
	// Targets and flags may come in any order.
	var specs []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return errFlags
		}
		if fs.NArg() == 0 {
			break
		}
		specs = append(specs, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(specs) == 0 {
		return usagef("no targets: give at least one CIDR, range or address")
	}
	p, err := sweep.ProfileByName(*profile)
	if err != nil {
		return usagef("%v", err)
	}
	set, err := target.Parse(specs, excludes, *maxAddrs)
	if err != nil {
		return usagef("%v", err)
	}
	var creds []snmp.Credential
	for _, c := range communities {
		creds = append(creds, snmp.Community(c))
	}
	for _, s := range v3s {
		c, err := snmp.ParseV3(s)
		if err != nil {
			return usagef("--snmp-v3: %v", err)
		}
		creds = append(creds, c)
	}
	if len(creds) == 0 {
		creds = []snmp.Credential{snmp.Community("public")}
	}

	tty := isTerminal(stdout)
	status := func(string) {}
	progress := func(sweep.Progress) {}
	if tty {
		var last time.Time
		progress = func(pr sweep.Progress) {
			if time.Since(last) < 100*time.Millisecond {
				return
			}
			last = time.Now()
			fmt.Fprintf(stdout, "\r\033[Kscanning %d addresses: %s", set.Len(), pr)
		}
		status = func(s string) { fmt.Fprintf(stdout, "\r\033[K%s", s) }
	}
	started := time.Now()

	// mDNS listens while the sweep runs: it only sends queries on the
	// interfaces of target subnets, and keeps only target addresses.
	var svcs []mdns.Service
	var mdnsErr error
	var wg sync.WaitGroup
	if ifaces := targetInterfaces(set); !*noMDNS && len(ifaces) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svcs, mdnsErr = mdns.Browse(ctx, mdns.Options{Wait: 2 * time.Second, Interfaces: ifaces})
		}()
	}
	res := sweep.New(p).Sweep(ctx, set, progress)

	var live []netip.Addr
	for _, h := range res.Hosts {
		live = append(live, h.Addr)
	}
	var devices []snmp.Result
	var names map[netip.Addr]hostNames
	if len(live) > 0 && ctx.Err() == nil {
		status(fmt.Sprintf("reading SNMP and names of %d live hosts…", len(live)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !*noSNMP {
				devices = snmp.New(snmp.Options{Credentials: creds, Timeout: time.Second, Concurrency: 32}).ProbeAll(ctx, live)
			}
		}()
		if !*noNames {
			names = lookupNames(ctx, live)
		}
	}
	wg.Wait()
	finished := time.Now()
	if tty {
		fmt.Fprint(stdout, "\r\033[K")
	}

	d := wire.Discovery{
		StartedAt:    started.UTC(),
		FinishedAt:   finished.UTC(),
		Targets:      specs,
		Excluded:     excludes,
		Profile:      p.Name,
		Observations: []wire.Observation{},
	}
	for _, e := range res.Errors {
		d.Errors = append(d.Errors, wire.SourceError{Source: "sweep", Error: e.Error()})
	}
	if mdnsErr != nil && ctx.Err() == nil {
		d.Errors = append(d.Errors, wire.SourceError{Source: "mdns", Error: mdnsErr.Error()})
	}
	svcs = slices.DeleteFunc(svcs, func(s mdns.Service) bool {
		s.Addrs = slices.DeleteFunc(s.Addrs, func(a netip.Addr) bool { return !set.Contains(a) })
		return len(s.Addrs) == 0
	})
	rows := mergeScan(res.Hosts, devices, svcs, names, finished)
	for _, r := range rows {
		d.Observations = append(d.Observations, r.obs...)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			return err
		}
	} else if err := writeScanTable(stdout, rows, set.Len(), finished.Sub(started)); err != nil {
		return err
	}
	for _, e := range d.Errors {
		fmt.Fprintf(stderr, "umbra-agent scan: %s: %s\n", e.Source, e.Error)
	}
	if ctx.Err() != nil {
		return errReported
	}
	return nil
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
// few at a time, each bounded in time.
func lookupNames(ctx context.Context, addrs []netip.Addr) map[netip.Addr]hostNames {
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
		}()
	}
	wg.Wait()
	return out
}

// scanRow is one host of the result: what every method said about it.
type scanRow struct {
	addr    netip.Addr
	mac     string
	vendor  string
	kind    string
	name    string
	methods []string
	rtt     time.Duration
	ports   []int
	descr   string
	obs     []wire.Observation
}

// mergeScan merges the sweep, SNMP, mDNS and name results per host and
// decides each host's kind from all its evidence. Hosts that only a
// router's ARP table knows (other subnets) get rows too.
func mergeScan(hosts []sweep.Host, devs []snmp.Result, svcs []mdns.Service, names map[netip.Addr]hostNames, at time.Time) []*scanRow {
	rows := map[netip.Addr]*scanRow{}
	row := func(a netip.Addr) *scanRow {
		if rows[a] == nil {
			rows[a] = &scanRow{addr: a}
		}
		return rows[a]
	}
	addMethod := func(r *scanRow, m string) {
		if !slices.Contains(r.methods, m) {
			r.methods = append(r.methods, m)
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
		r.obs = append(r.obs, h.Observations("", oui.Lookup)...)
		for _, m := range h.Methods {
			addMethod(r, string(m))
		}
		r.rtt, r.ports = h.RTT, h.OpenPorts
		if m, err := ident.ParseMAC(h.MAC.String()); err == nil {
			r.mac = m.String()
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
		r.obs = append(r.obs, obs...)
		addMethod(r, "snmp")
		e := ev(dv.Addr)
		de := dv.Evidence()
		e.SysObjectID, e.SysDescr, e.SysServices, e.HostResources = de.SysObjectID, de.SysDescr, de.SysServices, de.HostResources
		r.name = dv.System.Name
		r.descr = dv.System.Descr
		if r.mac == "" {
			r.mac = dv.PrimaryMAC()
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
			r.mac = o.MAC
			addMethod(r, "snmp-arp")
		}
	}
	by := mdns.ByAddr(svcs)
	for a, ss := range by {
		r := row(a)
		addMethod(r, "mdns")
		ev(a).MDNSServices = mdns.Types(ss)
		if r.name == "" {
			for _, s := range ss {
				if s.Host != "" {
					r.name = strings.TrimSuffix(s.Host, ".local")
					break
				}
			}
		}
		if r.descr == "" {
			r.descr = mdns.Model(ss)
		}
	}
	for _, o := range mdns.Observations(svcs, at, "") {
		a, _ := netip.ParseAddr(o.IP)
		row(a).obs = append(row(a).obs, o)
	}
	for a, n := range names {
		r, ok := rows[a]
		if !ok {
			continue
		}
		if n.dns != "" {
			r.obs = append(r.obs, wire.Observation{ObservedAt: at.UTC().Truncate(time.Millisecond), Method: wire.MethodDNS, IP: a.String(), Hostname: n.dns})
			addMethod(r, "dns")
		}
		if n.netbios != "" {
			o := wire.Observation{ObservedAt: at.UTC().Truncate(time.Millisecond), Method: wire.MethodNetBIOS, IP: a.String(), Hostname: n.netbios}
			if n.workgroup != "" {
				o.Evidence = []wire.Evidence{{Key: "netbios.workgroup", Value: n.workgroup}}
			}
			r.obs = append(r.obs, o)
			addMethod(r, "netbios")
		}
		r.name = cmp.Or(r.name, n.netbios, n.dns)
	}
	return finishRows(rows, evidence)
}

func finishRows(rows map[netip.Addr]*scanRow, evidence map[netip.Addr]*identify.Evidence) []*scanRow {
	out := make([]*scanRow, 0, len(rows))
	for a, r := range rows {
		e := evidence[a]
		if e == nil {
			e = &identify.Evidence{}
		}
		if m, err := ident.ParseMAC(r.mac); err == nil {
			e.MACVendor, e.MACLocal = oui.Lookup(m)
		}
		v := identify.Classify(*e)
		r.kind, r.vendor = v.Kind, v.Vendor
		if e.MACLocal && r.vendor == "" {
			r.vendor = "(randomised)"
		}
		// The host's own first observation carries the verdict.
		if v.Kind != wire.KindUnknown {
			for i := range r.obs {
				if r.obs[i].IP == a.String() && r.obs[i].Via == "" {
					r.obs[i].Kinds = v.Hints
					if len(r.obs[i].Kinds) > wire.MaxObservationItems {
						r.obs[i].Kinds = r.obs[i].Kinds[:wire.MaxObservationItems]
					}
					break
				}
			}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *scanRow) int { return a.addr.Compare(b.addr) })
	return out
}

func writeScanTable(w io.Writer, rows []*scanRow, n int, took time.Duration) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tMAC\tVENDOR\tKIND\tNAME\tSEEN BY\tRTT\tOPEN TCP\tDESCRIPTION")
	live, learned := 0, 0
	for _, r := range rows {
		if slices.Equal(r.methods, []string{"snmp-arp"}) {
			learned++
		} else {
			live++
		}
		ports := sweep.PortList(r.ports)
		rtt := "-"
		if r.rtt > 0 {
			rtt = r.rtt.Round(10 * time.Microsecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.addr, dash(r.mac), dash(trim(r.vendor, 24)), r.kind,
			dash(trim(r.name, 24)), strings.Join(r.methods, "+"), rtt, dash(ports), dash(trim(r.descr, 48)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d live hosts of %d addresses, %d more learned from routers' ARP tables, in %v\n", live, n, learned, took.Round(time.Millisecond))
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
