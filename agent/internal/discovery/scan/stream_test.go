package scan

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/mdns"
	"github.com/umbrasec/umbra/agent/internal/discovery/snmp"
	"github.com/umbrasec/umbra/agent/internal/discovery/sweep"
	"github.com/umbrasec/umbra/shared/wire"
)

// fixture is what a scan's parts found: a router that answers ARP, ping
// and SNMP (with its ARP table); a printer that answers ARP, ping, TCP,
// SNMP and mDNS; a quiet host that
// answers ARP only and has a DNS name; a routed host that answers ping; a
// media device only mDNS knows.
type fixture struct {
	hosts []sweep.Host
	devs  []snmp.Result
	svcs  []mdns.Service
	names map[netip.Addr]hostNames
}

var (
	routerIP  = netip.MustParseAddr("198.18.1.1")
	printerIP = netip.MustParseAddr("198.18.1.20")
	quietIP   = netip.MustParseAddr("198.18.1.30")
	routedIP  = netip.MustParseAddr("198.18.2.40")
	mediaIP   = netip.MustParseAddr("198.18.1.50")
)

func newFixture() fixture {
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	seen := time.Now().Add(-time.Minute)
	return fixture{
		hosts: []sweep.Host{
			{Addr: routerIP, MAC: mac("00:1b:54:00:00:01"), Methods: []wire.Method{wire.MethodARP, wire.MethodICMP}, RTT: time.Millisecond, SeenAt: seen},
			{Addr: printerIP, MAC: mac("3c:d9:2b:00:00:20"), Methods: []wire.Method{wire.MethodARP, wire.MethodICMP, wire.MethodTCP},
				RTT: time.Millisecond, OpenPorts: []int{80, 443, 631, 9100}, SeenAt: seen},
			{Addr: quietIP, MAC: mac("00:11:22:00:00:30"), Methods: []wire.Method{wire.MethodARP}, RTT: 2 * time.Millisecond, SeenAt: seen},
			{Addr: routedIP, Methods: []wire.Method{wire.MethodICMP}, RTT: 3 * time.Millisecond, SeenAt: seen},
		},
		devs: []snmp.Result{{Addr: routerIP, Device: &snmp.Device{Addr: routerIP, Credential: "v2c community",
			System: snmp.System{Descr: "Cisco IOS Software, C2900 Software (C2900-UNIVERSALK9-M), Version 15.1(4)M4", ObjectID: "1.3.6.1.4.1.9.1.1",
				Name: "rtr-office", Services: 78},
			Interfaces: []snmp.Interface{{Index: 1, Name: "Gi0/0", Type: 6, MAC: "00:1b:54:00:00:01", IPs: []netip.Addr{routerIP}}},
			ARP:        []snmp.ARPEntry{{IfIndex: 1, IP: netip.MustParseAddr("198.18.1.99"), MAC: "00:11:22:00:00:99", Type: 3}},
		}}, {Addr: printerIP, Device: &snmp.Device{Addr: printerIP, Credential: "v2c community",
			System:     snmp.System{Descr: "HP ETHERNET MULTI-ENVIRONMENT", ObjectID: "1.3.6.1.4.1.11.2.3.9.1", Name: "prn-office"},
			Interfaces: []snmp.Interface{{Index: 1, Name: "eth0", Type: 6, MAC: "3c:d9:2b:00:00:20", IPs: []netip.Addr{printerIP}}},
		}}, {Addr: quietIP, Err: snmp.ErrNoAnswer}},
		svcs: []mdns.Service{
			{Instance: "HP LaserJet", Type: "_ipp._tcp", Host: "prn-office.local", Port: 631, Addrs: []netip.Addr{printerIP}, TXT: []string{"ty=HP LaserJet"}},
			{Instance: "Living room", Type: "_googlecast._tcp", Host: "cast.local", Port: 8009, Addrs: []netip.Addr{mediaIP}, TXT: []string{"md=Chromecast"}},
		},
		names: map[netip.Addr]hostNames{quietIP: {dns: "quiet.example.org"}, printerIP: {netbios: "PRN", workgroup: "OFFICE"}},
	}
}

// multiset counts observations by obsKey.
func multiset(obs []wire.Observation) map[[32]byte]int {
	m := map[[32]byte]int{}
	for _, o := range obs {
		m[obsKey(o)]++
	}
	return m
}

// TestStreamerSplitsTheResult streams some or all of a scan's parts in
// different orders, and checks that what was streamed and what the result
// keeps are, together, every observation of the scan once, and that each
// host's final kind reaches the collector.
func TestStreamerSplitsTheResult(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parts []string
	}{
		{"everything", []string{"mdns", "sweep", "snmp", "names"}},
		{"sweep first", []string{"sweep", "snmp", "mdns", "names"}},
		{"sweep only", []string{"sweep"}},
		{"snmp and names only", []string{"snmp", "names"}},
		{"nothing", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			var streamed []wire.Observation
			calls := 0
			st := newStreamer(func(obs []wire.Observation) {
				calls++
				streamed = append(streamed, obs...)
			})
			for _, p := range tc.parts {
				switch p {
				case "sweep":
					st.sweepDone(f.hosts)
				case "snmp":
					for _, r := range f.devs {
						st.device(r)
					}
				case "mdns":
					st.mdnsDone(f.svcs)
				case "names":
					for a, n := range f.names {
						st.names(a, n)
					}
				}
			}
			rows := mergeScan(f.hosts, f.devs, f.svcs, f.names, time.Now())
			var all []wire.Observation
			for _, r := range rows {
				all = append(all, r.Obs...)
			}
			rest := st.rest(rows)
			if st.n != len(streamed) {
				t.Errorf("the streamer counts %d observations, streamed %d", st.n, len(streamed))
			}
			if len(tc.parts) == 4 && len(rest) != 0 {
				t.Errorf("everything was streamed, but the result keeps %d observations: %+v", len(rest), rest)
			}
			if len(tc.parts) > 0 && (calls == 0 || len(streamed) == 0) {
				t.Errorf("nothing was streamed")
			}
			got := multiset(append(slices.Clone(streamed), rest...))
			want := multiset(all)
			named := map[[32]byte]wire.Observation{}
			for _, o := range append(append(slices.Clone(all), streamed...), rest...) {
				named[obsKey(o)] = o
			}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("streamed and kept %d times, want %d: %+v", got[k], n, named[k])
				}
			}
			for k, n := range got {
				if want[k] == 0 {
					t.Errorf("streamed or kept %d times, made by no part of the scan: %+v", n, named[k])
				}
			}
			// Each host's final verdict is on one of its own observations,
			// and the last verdict sent for it through the stream's
			// bookkeeping is the final one.
			delivered := append(slices.Clone(streamed), rest...)
			for _, r := range rows {
				if r.Kind == wire.KindUnknown {
					continue
				}
				final := r.verdict()
				found := false
				for _, o := range delivered {
					if o.IP == r.Addr.String() && o.Via == "" && slices.Equal(o.Kinds, final) {
						found = true
					}
				}
				if !found {
					t.Errorf("%s: no observation carries its final verdict %v", r.Addr, final)
				}
			}
		})
	}
}

// TestStreamerVerdicts: a host's verdict from the sweep alone rides on
// its first observation; evidence that changes it (the router's SNMP, the
// printer's mDNS) sends the new one with the observation that brought it;
// a name changes nothing and carries none.
func TestStreamerVerdicts(t *testing.T) {
	f := newFixture()
	var batches [][]wire.Observation
	st := newStreamer(func(obs []wire.Observation) { batches = append(batches, slices.Clone(obs)) })
	st.sweepDone(f.hosts)
	for _, r := range f.devs {
		st.device(r) // the quiet host's is no answer: nothing to stream
	}
	st.mdnsDone(f.svcs)
	st.names(quietIP, f.names[quietIP])
	if len(batches) != 5 {
		t.Fatalf("%d batches, want 5 (sweep, two SNMP devices, mDNS, a name)", len(batches))
	}
	kinds := func(o wire.Observation) string {
		if len(o.Kinds) == 0 {
			return ""
		}
		return o.Kinds[0].Kind
	}
	first := map[string]wire.Observation{}
	for _, o := range batches[0] {
		if _, ok := first[o.IP]; ok {
			if len(o.Kinds) > 0 {
				t.Errorf("a second sweep observation of %s carries a verdict: %+v", o.IP, o)
			}
			continue
		}
		first[o.IP] = o
	}
	if o := first[printerIP.String()]; o.Method != wire.MethodARP || kinds(o) != wire.KindPrinter {
		t.Errorf("the printer's first sweep observation = %+v; want ARP saying printer (its ports)", o)
	}
	if o := first[routerIP.String()]; kinds(o) == wire.KindRouter {
		t.Errorf("the router's sweep observation says router before SNMP spoke: %+v", o)
	}
	if o := batches[1][0]; o.Method != wire.MethodSNMP || o.IP != routerIP.String() || kinds(o) != wire.KindRouter {
		t.Errorf("the router's SNMP observation = %+v; want it to say router", o)
	}
	var md wire.Observation
	for _, o := range batches[3] {
		if o.IP == printerIP.String() {
			md = o
		}
	}
	if md.Method != wire.MethodMDNS || kinds(md) != wire.KindPrinter || !slices.Equal(md.Kinds, st.verdict(printerIP)) {
		t.Errorf("the printer's mDNS observation = %+v; want the verdict of all its evidence %v", md, st.verdict(printerIP))
	}
	if o := batches[4][0]; o.Method != wire.MethodDNS || len(o.Kinds) != 0 {
		t.Errorf("the quiet host's name = %+v; want a DNS observation without a verdict", o)
	}
	var none *streamer // streaming off
	none.sweepDone(f.hosts)
	none.device(f.devs[0])
	none.mdnsDone(f.svcs)
	none.names(quietIP, f.names[quietIP])
}
