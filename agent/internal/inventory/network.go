package inventory

import (
	"net/netip"
	"os"
	"runtime"

	"github.com/umbrasec/umbra/agent/internal/inventory/netconf"
	"github.com/umbrasec/umbra/shared/wire"
)

// netSettings are the host's network settings beside its interfaces.
type netSettings struct {
	gateways []netip.Addr
	dns      []string
	// kind tells an interface's link kind by its name; nil where the OS
	// gives no way to tell.
	kind func(name string) string
}

// readNetSettings reads the default gateways, DNS servers and interface
// kinds. Linux only for now: elsewhere the fields stay empty (unknown), as
// the wire format allows. A file that cannot be read leaves its field
// empty: none of them is worth a source error.
func readNetSettings() netSettings {
	if runtime.GOOS != "linux" {
		return netSettings{}
	}
	var s netSettings
	if b, err := os.ReadFile("/proc/net/route"); err == nil {
		s.gateways = netconf.Gateways(b)
	}
	if b, err := os.ReadFile("/proc/net/ipv6_route"); err == nil {
		s.gateways = append(s.gateways, netconf.Gateways6(b)...)
	}
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		s.dns = netconf.Nameservers(b)
	}
	root := os.DirFS("/")
	s.kind = func(name string) string { return netconf.Kind(root, name) }
	return s
}

// applyNetSettings puts s into inv within lim: only well-formed addresses,
// at most lim.MaxAddresses of each.
func applyNetSettings(inv *wire.Inventory, s netSettings, lim wire.Limits) {
	for _, g := range s.gateways {
		if len(inv.Host.Gateways) < lim.MaxAddresses && g.IsValid() {
			inv.Host.Gateways = append(inv.Host.Gateways, g.String())
		}
	}
	for _, d := range s.dns {
		if _, err := netip.ParseAddr(d); err == nil && len(inv.Host.DNSServers) < lim.MaxAddresses {
			inv.Host.DNSServers = append(inv.Host.DNSServers, d)
		}
	}
	if s.kind == nil {
		return
	}
	for i := range inv.Interfaces {
		inv.Interfaces[i].Kind = s.kind(inv.Interfaces[i].Name)
	}
}
