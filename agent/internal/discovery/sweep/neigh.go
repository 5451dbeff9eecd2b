package sweep

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// Where the agent may not send raw ARP frames (macOS, Windows), liveness on
// a directly attached subnet comes from the operating system's neighbour
// table: a UDP datagram to the discard port of each target makes the
// kernel resolve the address with ARP, and whatever the table then holds
// with a link-layer address answered. The table is read at most every
// refresh, however often the sweep asks.

// neighTable reads the IPv4 neighbour table: address → MAC of the complete
// entries.
type neighTable func() (map[netip.Addr]net.HardwareAddr, error)

// nudgePort is the discard service: a live host drops the datagram (or
// answers port unreachable), and nothing listens there to act on it.
const nudgePort = 9

func (s *Scanner) neighSweep(ctx context.Context, ifc localIface, addrs []netip.Addr, st *state, progress func(Progress),
	read neighTable, refresh time.Duration) error {
	if _, err := read(); err != nil {
		return fmt.Errorf("reading the neighbour table: %w", err)
	}
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ifc.Addr, 0)))
	if err != nil {
		return fmt.Errorf("opening a UDP socket on %s: %w", ifc.Addr, err)
	}
	defer conn.Close()
	want := make(map[netip.Addr]time.Time, len(addrs))
	for _, a := range addrs {
		want[a] = time.Time{}
	}
	var mu sync.Mutex
	got := make(map[netip.Addr]bool, len(addrs))
	var readAt time.Time
	var readErr error
	// poll reads the table when it is older than refresh and records the
	// targets it newly holds.
	poll := func() {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(readAt) < refresh {
			return
		}
		readAt = time.Now()
		tab, err := read()
		if err != nil {
			readErr = err
			return
		}
		for a, mac := range tab {
			sent, asked := want[a]
			if !asked || got[a] || sent.IsZero() {
				continue
			}
			got[a] = true
			st.add(a, wire.MethodARP, mac, time.Since(sent), 0)
		}
	}
	send := func(a netip.Addr) error {
		mu.Lock()
		if want[a].IsZero() {
			want[a] = time.Now()
		}
		mu.Unlock()
		// A host the kernel already failed to resolve refuses the send
		// (host down, unreachable): an answer of sorts, not a reason to
		// stop. Only a broken socket is.
		if _, err := conn.WriteToUDPAddrPort([]byte{0}, netip.AddrPortFrom(a, nudgePort)); errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}
	answered := func(a netip.Addr) bool {
		poll()
		mu.Lock()
		defer mu.Unlock()
		return got[a]
	}
	err = s.passes(ctx, s.arpLim, "arp", addrs, st, send, answered, progress)
	mu.Lock()
	defer mu.Unlock()
	if err == nil && readErr != nil {
		err = fmt.Errorf("reading the neighbour table: %w", readErr)
	}
	return err
}

// usableMAC reports whether a table entry's link-layer address names a
// host: six bytes, not all zero (incomplete), not broadcast or multicast.
func usableMAC(m net.HardwareAddr) bool {
	if len(m) != 6 || m[0]&1 == 1 {
		return false
	}
	return !bytes.Equal(m, make([]byte, 6))
}

// readProcNetARP reads Linux's IPv4 neighbour table.
func readProcNetARP() (map[netip.Addr]net.HardwareAddr, error) {
	b, err := os.ReadFile("/proc/net/arp")
	if err != nil {
		return nil, err
	}
	return parseProcNetARP(b)
}

// parseProcNetARP reads Linux's /proc/net/arp: complete entries (flag
// ATF_COM, 0x2) only.
func parseProcNetARP(b []byte) (map[netip.Addr]net.HardwareAddr, error) {
	out := map[netip.Addr]net.HardwareAddr{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	first := true
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if first {
			first = false
			if len(f) < 4 || f[0] != "IP" {
				return nil, errors.New("/proc/net/arp: no header line")
			}
			continue
		}
		if len(f) < 4 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil || !a.Is4() {
			continue
		}
		var flags uint32
		if _, err := fmt.Sscanf(f[2], "0x%x", &flags); err != nil || flags&0x2 == 0 {
			continue
		}
		if mac, err := net.ParseMAC(f[3]); err == nil && usableMAC(mac) {
			out[a] = mac
		}
	}
	return out, sc.Err()
}

// parseArpAn reads the output of BSD and macOS `arp -an`:
//
//	? (192.168.1.1) at 0:1b:21:3a:4f:5 on en0 ifscope [ethernet]
//	? (192.168.1.7) at (incomplete) on en0 ifscope [ethernet]
//
// macOS drops leading zeros from each byte.
func parseArpAn(b []byte) (map[netip.Addr]net.HardwareAddr, error) {
	out := map[netip.Addr]net.HardwareAddr{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[2] != "at" || !strings.HasPrefix(f[1], "(") || !strings.HasSuffix(f[1], ")") {
			continue
		}
		a, err := netip.ParseAddr(strings.Trim(f[1], "()"))
		if err != nil || !a.Is4() {
			continue
		}
		mac, ok := parseLooseMAC(f[3])
		if ok && usableMAC(mac) {
			out[a] = mac
		}
	}
	return out, sc.Err()
}

// parseLooseMAC parses six colon-separated hex bytes of one or two digits.
func parseLooseMAC(s string) (net.HardwareAddr, bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return nil, false
	}
	mac := make(net.HardwareAddr, 6)
	for i, p := range parts {
		if len(p) < 1 || len(p) > 2 {
			return nil, false
		}
		var v uint8
		for _, c := range []byte(p) {
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | (c - '0')
			case c >= 'a' && c <= 'f':
				v = v<<4 | (c - 'a' + 10)
			case c >= 'A' && c <= 'F':
				v = v<<4 | (c - 'A' + 10)
			default:
				return nil, false
			}
		}
		mac[i] = v
	}
	return mac, true
}

// Windows' MIB_IPNETTABLE (GetIpNetTable): a DWORD count, then rows of
// dwIndex, dwPhysAddrLen, bPhysAddr[8], dwAddr (network order), dwType.
const (
	ipNetRowSize     = 24
	ipNetTypeDynamic = 3
	ipNetTypeStatic  = 4
)

// parseIPNetTable reads a MIB_IPNETTABLE as GetIpNetTable fills it
// (little-endian DWORDs, the address in network byte order).
func parseIPNetTable(b []byte) (map[netip.Addr]net.HardwareAddr, error) {
	if len(b) < 4 {
		return nil, errors.New("MIB_IPNETTABLE: shorter than its count")
	}
	n := binary.LittleEndian.Uint32(b)
	rows := b[4:]
	if uint64(n)*ipNetRowSize > uint64(len(rows)) {
		return nil, fmt.Errorf("MIB_IPNETTABLE: %d rows do not fit in %d bytes", n, len(rows))
	}
	out := map[netip.Addr]net.HardwareAddr{}
	for i := range int(n) {
		r := rows[i*ipNetRowSize : (i+1)*ipNetRowSize]
		plen := binary.LittleEndian.Uint32(r[4:])
		typ := binary.LittleEndian.Uint32(r[20:])
		if plen != 6 || (typ != ipNetTypeDynamic && typ != ipNetTypeStatic) {
			continue
		}
		a := netip.AddrFrom4([4]byte(r[16:20]))
		mac := net.HardwareAddr(bytes.Clone(r[8:14]))
		if usableMAC(mac) {
			out[a] = mac
		}
	}
	return out, nil
}
