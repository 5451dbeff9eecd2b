//go:build linux

package scan

import (
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/snmp"
	"github.com/umbrasec/umbra/agent/internal/discovery/sweep"
	"github.com/umbrasec/umbra/agent/internal/discovery/target"
	"github.com/umbrasec/umbra/agent/internal/discovery/testbed"
	"github.com/umbrasec/umbra/shared/wire"
)

// TestStreamIntegration scans the simulated office network from its
// scanner namespace with and without streaming.
func TestStreamIntegration(t *testing.T) {
	n := testbed.Up(t, 0)
	n.RunInScanner(t, "TestStreamInScanner")
}

// obsID names an observation by method, address and MAC (and where it
// was seen from, for the indirect ones).
func obsID(o wire.Observation) string {
	return string(o.Method) + " " + o.IP + " " + o.MAC + " via " + o.Via + " " + o.Port
}

func TestStreamInScanner(t *testing.T) {
	n := testbed.Child(t)
	lan := n.Subnets[0]
	set, err := target.Parse([]string{lan}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Set: set, Targets: []string{lan}, Profile: sweep.Fast, Credentials: []snmp.Credential{
		snmp.Community("umbra-ro"), snmp.Community("public"),
		{Version: snmp.V3, User: "umbrav3", Auth: "SHA", AuthPass: "umbra-auth-pass", Priv: "AES", PrivPass: "umbra-priv-pass"},
	}}
	// The first scan fills the neighbours' ARP caches and the switch's
	// forwarding table with the scanner, so that the two compared below
	// see the same network.
	Run(t.Context(), opt)
	start := time.Now()
	plain := Run(t.Context(), opt)
	t.Logf("scan of %s without streaming: %d observations, %d hosts in %v", lan, len(plain.Discovery.Observations), len(plain.Rows), time.Since(start).Round(time.Millisecond))
	if plain.Streamed != 0 {
		t.Errorf("a scan without a stream says it streamed %d observations", plain.Streamed)
	}

	var mu sync.Mutex
	var streamed []wire.Observation
	type call struct {
		at      time.Time
		methods []wire.Method
	}
	var calls []call
	opt.Stream = func(obs []wire.Observation) {
		mu.Lock()
		defer mu.Unlock()
		c := call{at: time.Now()}
		for _, o := range obs {
			if !slices.Contains(c.methods, o.Method) {
				c.methods = append(c.methods, o.Method)
			}
		}
		calls = append(calls, c)
		streamed = append(streamed, obs...)
	}
	start = time.Now()
	res := Run(t.Context(), opt)
	returned := time.Now()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("scan of %s with streaming: %d observations streamed in %d calls, %d left for the result, in %v",
		lan, len(streamed), len(calls), len(res.Discovery.Observations), returned.Sub(start).Round(time.Millisecond))
	for i, c := range calls {
		t.Logf("stream call %d at +%v: %v", i, c.at.Sub(start).Round(time.Millisecond), c.methods)
	}

	// Observations came through the stream while the scan ran: the
	// sweep's first, then each SNMP device's on its own.
	if len(calls) < 3 {
		t.Fatalf("%d stream calls; want the sweep's, the mDNS ones and every SNMP device's", len(calls))
	}
	// The ARP phase's hosts go out alone, before ICMP and TCP probing
	// starts: a sweep of a large range delivers as it goes.
	if !slices.Equal(calls[0].methods, []wire.Method{wire.MethodARP}) {
		t.Errorf("first stream call carries %v; want the ARP phase's observations alone", calls[0].methods)
	}
	if res.Streamed != len(streamed) {
		t.Errorf("Result.Streamed = %d, the stream got %d", res.Streamed, len(streamed))
	}
	sweepAt, snmpCalls := time.Time{}, 0
	for _, c := range calls {
		if slices.Contains(c.methods, wire.MethodARP) && sweepAt.IsZero() {
			sweepAt = c.at
		}
		if slices.Contains(c.methods, wire.MethodSNMP) {
			snmpCalls++
		}
	}
	if sweepAt.IsZero() || !sweepAt.Before(returned) {
		t.Errorf("the sweep's observations were not streamed before Run returned")
	}
	if snmpCalls < 3 {
		t.Errorf("%d stream calls held SNMP observations; want one per device that answers (router, switch, printer, server)", snmpCalls)
	}
	last := calls[len(calls)-1].at
	if returned.Sub(sweepAt) <= returned.Sub(last) {
		t.Errorf("the sweep's observations came with the last call")
	}

	// Streamed and kept together are what the plain scan found, each once.
	count := func(obs []wire.Observation) map[string]int {
		m := map[string]int{}
		for _, o := range obs {
			m[obsID(o)]++
		}
		return m
	}
	want := count(plain.Discovery.Observations)
	got := count(append(slices.Clone(streamed), res.Discovery.Observations...))
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d times streamed or kept, %d times in the plain scan", k, got[k], n)
		}
	}
	for k, n := range got {
		if want[k] == 0 {
			t.Errorf("%s: %d times streamed or kept, not in the plain scan", k, n)
		}
	}
	for k, n := range count(streamed) {
		for _, o := range res.Discovery.Observations {
			if obsID(o) == k && want[k] <= n {
				t.Errorf("%s was streamed and is in the result too", k)
				break
			}
		}
	}

	// The rows, and so every host's kind, are the plain scan's; the kind
	// reaches the collector on one of the host's own observations.
	kinds := map[netip.Addr]string{}
	for _, r := range plain.Rows {
		kinds[r.Addr] = r.Kind
	}
	delivered := append(slices.Clone(streamed), res.Discovery.Observations...)
	checked := 0
	for _, r := range res.Rows {
		if kinds[r.Addr] != r.Kind {
			t.Errorf("%s: kind %q with streaming, %q without", r.Addr, r.Kind, kinds[r.Addr])
		}
		if r.verdict() == nil {
			continue // unknown, or a host only a router's ARP table knows: none of its own observations to carry it
		}
		ok := false
		for _, o := range delivered {
			if o.IP == r.Addr.String() && o.Via == "" && len(o.Kinds) > 0 && o.Kinds[0].Kind == r.Kind {
				ok = true
				break
			}
		}
		if !ok {
			t.Errorf("%s: no observation delivered says %s", r.Addr, r.Kind)
		}
		checked++
	}
	for _, name := range []string{"router", "switch", "printer", "server", "media"} {
		h, ok := n.Host(name)
		if !ok {
			continue
		}
		found := false
		for _, r := range res.Rows {
			if r.Addr.String() == h.IP {
				found = r.Kind == h.Kind || h.Kind == ""
				t.Logf("%s (%s): kind %s", name, h.IP, r.Kind)
			}
		}
		if !found {
			t.Errorf("%s (%s): not found with its kind %q", name, h.IP, h.Kind)
		}
	}
	if checked == 0 {
		t.Error("no host of the test network got a kind")
	}
}
