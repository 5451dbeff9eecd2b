package inventory

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

func TestApplyNetSettings(t *testing.T) {
	lim := wire.DefaultLimits
	lim.MaxAddresses = 2
	inv := &wire.Inventory{Interfaces: []wire.Interface{{Name: "lo"}, {Name: "wlp2s0"}, {Name: "gone0"}}}
	kinds := map[string]string{"lo": "loopback", "wlp2s0": "wireless"}
	applyNetSettings(inv, netSettings{
		gateways: []netip.Addr{netip.MustParseAddr("192.0.2.1"), {}, netip.MustParseAddr("fe80::1"), netip.MustParseAddr("198.51.100.1")},
		dns:      []string{"10.0.0.53", "not-an-address; rm -rf /", "fe80::53%eth0", "192.0.2.53"},
		kind:     func(n string) string { return kinds[n] },
	}, lim)
	if want := []string{"192.0.2.1", "fe80::1"}; !slices.Equal(inv.Host.Gateways, want) {
		t.Errorf("Gateways = %q, want %q", inv.Host.Gateways, want)
	}
	if want := []string{"10.0.0.53", "fe80::53%eth0"}; !slices.Equal(inv.Host.DNSServers, want) {
		t.Errorf("DNSServers = %q, want %q", inv.Host.DNSServers, want)
	}
	var got []string
	for _, i := range inv.Interfaces {
		got = append(got, i.Kind)
	}
	if want := []string{"loopback", "wireless", ""}; !slices.Equal(got, want) {
		t.Errorf("interface kinds = %q, want %q", got, want)
	}
	// What the agent fills in passes the collector's validation.
	now := time.Now()
	inv.Host.Hostname, inv.CollectedAt = "h", now
	rep := &wire.Report{Schema: wire.Schema, ID: "r", Kind: wire.KindInventory, AgentID: "a", CreatedAt: now, Inventory: inv}
	if err := rep.Validate(wire.DefaultLimits, now); err != nil {
		t.Errorf("Validate = %v", err)
	}
}
