package sweep

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/target"
	"github.com/umbrasec/umbra/agent/internal/discovery/testbed"
	"github.com/umbrasec/umbra/shared/wire"
)

// TestSweepIntegration builds the simulated office network and sweeps both
// of its subnets from the scanner namespace.
func TestSweepIntegration(t *testing.T) {
	n := testbed.Up(t, 0)
	n.RunInScanner(t, "TestSweepInScanner")
}

func TestSweepInScanner(t *testing.T) {
	n := testbed.Child(t)
	want := map[netip.Addr]testbed.Host{}
	for _, h := range n.Hosts {
		if h.Role == "scanner" {
			continue
		}
		want[netip.MustParseAddr(h.IP)] = h
		for _, ip := range h.IPs {
			want[netip.MustParseAddr(ip)] = h
		}
	}
	set, err := target.Parse(n.Subnets, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []Profile{Fast, Polite} {
		t.Run(p.Name, func(t *testing.T) {
			start := time.Now()
			res := New(p).Sweep(t.Context(), set, nil)
			t.Logf("%s sweep of %v: %d hosts in %v, errors %v", p.Name, n.Subnets, len(res.Hosts), time.Since(start).Round(time.Millisecond), res.Errors)
			if len(res.Errors) > 0 {
				t.Errorf("Sweep errors: %v", res.Errors)
			}
			got := map[netip.Addr]Host{}
			for _, h := range res.Hosts {
				got[h.Addr] = h
				if _, ok := want[h.Addr]; !ok {
					t.Errorf("found %s (%v), which is not in the test network", h.Addr, h.Methods)
				}
			}
			for a, h := range want {
				g, ok := got[a]
				if !ok {
					t.Errorf("missed %s (%s)", a, h.Name)
					continue
				}
				local := netip.MustParsePrefix(n.Subnets[0]).Contains(a)
				if local && a.String() == h.IP && g.MAC.String() != h.MAC {
					t.Errorf("%s (%s): MAC %v, want %s", a, h.Name, g.MAC, h.MAC)
				}
				if local && !slices.Contains(g.Methods, wire.MethodARP) {
					t.Errorf("%s (%s): methods %v, want arp", a, h.Name, g.Methods)
				}
				for _, port := range h.TCP {
					if slices.Contains(p.Ports, port) && !slices.Contains(g.OpenPorts, port) {
						t.Errorf("%s (%s): open ports %v, want %d among them", a, h.Name, g.OpenPorts, port)
					}
				}
			}
			for _, s := range n.Silent {
				if _, ok := got[netip.MustParseAddr(s)]; ok {
					t.Errorf("found %s, where nothing answers", s)
				}
			}
		})
	}
}
