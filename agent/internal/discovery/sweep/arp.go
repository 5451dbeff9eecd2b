package sweep

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
)

// ARP over Ethernet, RFC 826.
const (
	etherTypeARP = 0x0806
	arpRequest   = 1
	arpReply     = 2
	arpFrameLen  = 14 + 28
	minFrameLen  = 60 // without the FCS
)

// arpRequestFrame returns an Ethernet broadcast frame asking who has tip,
// from sha/sip.
func arpRequestFrame(sha net.HardwareAddr, sip, tip netip.Addr) []byte {
	b := make([]byte, minFrameLen)
	copy(b[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(b[6:12], sha)
	binary.BigEndian.PutUint16(b[12:14], etherTypeARP)
	a := b[14:]
	binary.BigEndian.PutUint16(a[0:2], 1)      // Ethernet
	binary.BigEndian.PutUint16(a[2:4], 0x0800) // IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], arpRequest)
	copy(a[8:14], sha)
	s4, t4 := sip.As4(), tip.As4()
	copy(a[14:18], s4[:])
	copy(a[24:28], t4[:])
	return b
}

var errNotARPReply = errors.New("not an ARP reply")

// parseARPReply reads an Ethernet frame and returns the sender of an ARP
// reply (or of a request: a host asking is a host alive).
func parseARPReply(b []byte) (net.HardwareAddr, netip.Addr, error) {
	if len(b) < arpFrameLen || binary.BigEndian.Uint16(b[12:14]) != etherTypeARP {
		return nil, netip.Addr{}, errNotARPReply
	}
	a := b[14:]
	if binary.BigEndian.Uint16(a[0:2]) != 1 || binary.BigEndian.Uint16(a[2:4]) != 0x0800 || a[4] != 6 || a[5] != 4 {
		return nil, netip.Addr{}, errNotARPReply
	}
	if op := binary.BigEndian.Uint16(a[6:8]); op != arpReply {
		return nil, netip.Addr{}, errNotARPReply
	}
	mac := net.HardwareAddr(append([]byte(nil), a[8:14]...))
	ip := netip.AddrFrom4([4]byte(a[14:18]))
	return mac, ip, nil
}
