// Package netconf reads a host's network settings that an asset inventory
// reports beside its interfaces: the default gateways, the DNS servers and
// what kind of link each interface is. Both peers of the benchmark
// (fusioninventory, ocsinventory) report them.
//
// The parsers are portable and read fixtures; Linux's files are
// /proc/net/route, /proc/net/ipv6_route, /etc/resolv.conf and
// /sys/class/net.
//
// The inventory package puts them in wire.Host.Gateways, Host.DNSServers
// and Interface.Kind.
package netconf

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/netip"
	"strconv"
	"strings"
)

// Interface kinds.
const (
	KindLoopback = "loopback"
	KindWired    = "wired"
	KindWireless = "wireless"
	KindVirtual  = "virtual"
)

// Gateways returns the next hops of the IPv4 default routes in a
// /proc/net/route file, in file order, without repeats. The kernel prints
// addresses as native-endian hex: this reads a little-endian host's file
// (amd64, arm64).
func Gateways(route []byte) []netip.Addr {
	var out []netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(route))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// Iface Destination Gateway Flags RefCnt Use Metric Mask …
		if len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" {
			continue
		}
		flags, err := strconv.ParseUint(f[3], 16, 32)
		if err != nil || flags&0x3 != 0x3 { // RTF_UP|RTF_GATEWAY
			continue
		}
		b, err := hex.DecodeString(f[2])
		if err != nil || len(b) != 4 {
			continue
		}
		var a [4]byte
		binary.LittleEndian.PutUint32(a[:], binary.BigEndian.Uint32(b))
		out = appendNew(out, netip.AddrFrom4(a))
	}
	return out
}

// Gateways6 returns the next hops of the IPv6 default routes in a
// /proc/net/ipv6_route file.
func Gateways6(route []byte) []netip.Addr {
	var out []netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(route))
	for sc.Scan() {
		// dst dst_len src src_len next_hop metric refcnt use flags iface
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[0] != strings.Repeat("0", 32) || f[1] != "00" {
			continue
		}
		b, err := hex.DecodeString(f[4])
		if err != nil || len(b) != 16 {
			continue
		}
		a := netip.AddrFrom16([16]byte(b))
		if a.IsUnspecified() {
			continue
		}
		out = appendNew(out, a)
	}
	return out
}

// Nameservers returns the nameserver addresses of a resolv.conf file.
func Nameservers(resolv []byte) []string {
	var out []string
	for l := range strings.Lines(string(resolv)) {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "nameserver" {
			out = append(out, f[1])
		}
	}
	return out
}

// Kind tells what link the interface name is, from /sys/class/net under
// root: loopback (ARPHRD_LOOPBACK), wireless (a wireless or phy80211
// entry), virtual (no device behind it: bridges, tunnels, veth, ifb…) or
// wired. It returns "" when the interface is not there.
func Kind(root fs.FS, name string) string {
	dir := "sys/class/net/" + name
	if _, err := fs.Stat(root, dir); err != nil {
		return ""
	}
	if b, err := fs.ReadFile(root, dir+"/type"); err == nil && strings.TrimSpace(string(b)) == "772" {
		return KindLoopback
	}
	for _, p := range []string{"/wireless", "/phy80211"} {
		if _, err := fs.Stat(root, dir+p); err == nil {
			return KindWireless
		}
	}
	if _, err := fs.Stat(root, dir+"/device"); errors.Is(err, fs.ErrNotExist) {
		return KindVirtual
	}
	return KindWired
}

func appendNew(list []netip.Addr, a netip.Addr) []netip.Addr {
	for _, x := range list {
		if x == a {
			return list
		}
	}
	return append(list, a)
}
