package sweep

import (
	"net/netip"
	"os/exec"
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
	// The neighbour-table path that macOS, Windows and an unprivileged
	// Linux agent take: nudge with UDP, read what the kernel resolved.
	t.Run("neighbour-table", func(t *testing.T) {
		if out, err := exec.Command("ip", "-4", "neigh", "flush", "all").CombinedOutput(); err != nil {
			t.Fatalf("ip neigh flush: %v: %s", err, out)
		}
		s := New(Polite)
		ifaces, err := s.interfaces()
		if err != nil {
			t.Fatal(err)
		}
		local := netip.MustParsePrefix(n.Subnets[0])
		var ifc localIface
		for _, i := range ifaces {
			if i.Prefix == local {
				ifc = i
			}
		}
		if !ifc.Addr.IsValid() {
			t.Fatalf("no interface on %s among %v", local, ifaces)
		}
		var addrs []netip.Addr
		for a := local.Addr().Next(); local.Contains(a); a = a.Next() {
			if a != ifc.Addr {
				addrs = append(addrs, a)
			}
		}
		addrs = addrs[:len(addrs)-1] // not the broadcast address
		st := &state{hosts: map[netip.Addr]*Host{}, rtt: newRTT(Polite.MinWait, Polite.MaxWait)}
		start := time.Now()
		if err := s.neighSweep(t.Context(), ifc, addrs, st, func(Progress) {}, readProcNetARP, 20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		got := map[netip.Addr]*Host{}
		for _, h := range st.list() {
			got[h.Addr] = &h
		}
		t.Logf("neighbour-table sweep of %s: %d hosts in %v", local, len(got), time.Since(start).Round(time.Millisecond))
		for a, h := range want {
			if !local.Contains(a) || a.String() != h.IP {
				continue
			}
			g, ok := got[a]
			switch {
			case !ok:
				t.Errorf("missed %s (%s)", a, h.Name)
			case g.MAC.String() != h.MAC:
				t.Errorf("%s (%s): MAC %v, want %s", a, h.Name, g.MAC, h.MAC)
			}
		}
		for a := range got {
			if _, ok := want[a]; !ok {
				t.Errorf("found %s, which is not in the test network", a)
			}
		}
	})
}
