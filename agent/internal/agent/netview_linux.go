package agent

import (
	"os"

	"github.com/umbrasec/umbra/agent/internal/inventory/netconf"
	"github.com/umbrasec/umbra/shared/wire"
)

// osNetworkView reads the default gateways (/proc/net/route,
// /proc/net/ipv6_route), the MACs of the IPv4 ones (/proc/net/arp) and the
// DNS search domains (/etc/resolv.conf). IPv6 gateways have no MAC here:
// the kernel keeps IPv6 neighbours only behind netlink.
func osNetworkView() wire.NetworkView {
	var v wire.NetworkView
	route, _ := os.ReadFile("/proc/net/route")
	gws := netconf.Gateways(route)
	if b, err := os.ReadFile("/proc/net/ipv6_route"); err == nil {
		gws = append(gws, netconf.Gateways6(b)...)
	}
	arp, _ := os.ReadFile("/proc/net/arp")
	gatewayView(&v, gws, neighbourMACs(arp))
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		v.DNSSuffixes = searchDomains(b)
	}
	return v
}
