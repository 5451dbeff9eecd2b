// Package listeners lists the sockets of this host that wait for
// connections: the first thing a security team asks about a server.
package listeners

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/umbrasec/umbra/shared/wire"
)

// Source is the name of this source in the inventory's errors.
const Source = "listeners"

// Collect lists the listening TCP sockets and bound UDP sockets, with the
// owning process where it can be seen.
func Collect(ctx context.Context) ([]wire.Listener, []error) {
	return collect(ctx)
}

// Socket is one line of /proc/net/{tcp,tcp6,udp,udp6}.
type Socket struct {
	Protocol string
	Addr     netip.AddrPort
	UID      int
	Inode    uint64
}

// ParseProcNet reads a /proc/net/tcp-style table and returns the sockets
// that listen: TCP in state LISTEN (0A), UDP unconnected (07) with no
// remote address. proto is "tcp" or "udp".
func ParseProcNet(data []byte, proto string) ([]Socket, error) {
	var out []Socket
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 64*1024)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue // header
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		state := f[3]
		if proto == "tcp" && state != "0A" || proto == "udp" && state != "07" {
			continue
		}
		local, err := parseHexAddr(f[1])
		if err != nil {
			return out, fmt.Errorf("line %q: %w", clip(sc.Text()), err)
		}
		if proto == "udp" {
			if remote, err := parseHexAddr(f[2]); err != nil || remote.Port() != 0 {
				continue // a connected UDP socket is a client
			}
		}
		uid, _ := strconv.Atoi(f[7])
		inode, _ := strconv.ParseUint(f[9], 10, 64)
		out = append(out, Socket{Protocol: proto, Addr: local, UID: uid, Inode: inode})
	}
	return out, sc.Err()
}

// parseHexAddr reads "0100007F:0016" (IPv4, host byte order words) or the
// 32-hex-digit IPv6 form.
func parseHexAddr(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%q has no port", clip(s))
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", clip(s))
	}
	raw, err := hex.DecodeString(a)
	if err != nil || len(raw) != 4 && len(raw) != 16 {
		return netip.AddrPort{}, fmt.Errorf("bad address in %q", clip(s))
	}
	// The kernel prints each 32-bit word in host (little-endian) order.
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(b[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
