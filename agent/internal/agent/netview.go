package agent

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"strings"

	"github.com/umbrasec/umbra/shared/wire"
)

// maxViewEntries bounds each list of a network view (wire.Heartbeat's
// limit).
const maxViewEntries = 64

// readNetworkView is what the agent sees of the network it sits on: its
// interface addresses on every OS; the default gateways with their MACs
// and the DNS search domains where the OS file gives them (Linux, see
// netview_linux.go). Elsewhere only subnet rules can match.
func readNetworkView() wire.NetworkView {
	v := osNetworkView()
	v.Addresses = interfaceAddrs()
	return v
}

// interfaceAddrs lists the addresses of the interfaces that are up,
// loopback left out, as prefixes (198.18.1.5/24).
func interfaceAddrs() []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []string
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok || ip.Unmap().IsLoopback() {
				continue
			}
			ones, _ := ipn.Mask.Size()
			if len(out) < maxViewEntries {
				out = append(out, netip.PrefixFrom(ip.Unmap(), ones).String())
			}
		}
	}
	return out
}

// searchDomains returns the DNS search domains of a resolv.conf file:
// "search" and "domain" lines, in order, without repeats.
func searchDomains(resolv []byte) []string {
	var out []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(resolv))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "search" && f[0] != "domain" {
			continue
		}
		for _, d := range f[1:] {
			if strings.HasPrefix(d, "#") || strings.HasPrefix(d, ";") {
				break
			}
			d = strings.ToLower(strings.TrimSuffix(d, "."))
			if d != "" && !seen[d] && len(out) < maxViewEntries {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out
}

// neighbourMACs reads a Linux /proc/net/arp file: the link-layer address
// of every complete IPv4 entry, by address.
func neighbourMACs(arp []byte) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	sc := bufio.NewScanner(bytes.NewReader(arp))
	for sc.Scan() {
		// IP address  HW type  Flags  HW address  Mask  Device
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[2] == "0x0" {
			continue // header, or an incomplete entry
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		hw, err := net.ParseMAC(f[3])
		if err != nil || len(hw) != 6 || hw.String() == "00:00:00:00:00:00" {
			continue
		}
		out[ip] = hw.String()
	}
	return out
}

// gatewayView fills in the gateways and their MACs from the default
// gateways and the neighbour table.
func gatewayView(v *wire.NetworkView, gateways []netip.Addr, macs map[netip.Addr]string) {
	for _, g := range gateways {
		if len(v.Gateways) >= maxViewEntries {
			break
		}
		v.Gateways = append(v.Gateways, g.String())
		if m, ok := macs[g]; ok {
			v.GatewayMACs = append(v.GatewayMACs, m)
		}
	}
}
