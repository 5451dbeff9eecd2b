package sweep

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// echoMagic starts the payload of every echo request we send, followed by
// a nonce per sweep, so that other programs' pings are never counted.
var echoMagic = []byte("umbra-sw")

const (
	icmpEchoReply   = 0
	icmpEchoRequest = 8
	echoPayloadLen  = 16
)

// echoRequest returns an ICMPv4 echo request carrying magic and nonce.
func echoRequest(id, seq uint16, nonce [8]byte) []byte {
	b := make([]byte, 8+echoPayloadLen)
	b[0] = icmpEchoRequest
	binary.BigEndian.PutUint16(b[4:6], id)
	binary.BigEndian.PutUint16(b[6:8], seq)
	copy(b[8:16], echoMagic)
	copy(b[16:24], nonce[:])
	binary.BigEndian.PutUint16(b[2:4], checksum(b))
	return b
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

var errNotOurEcho = errors.New("not a reply to our echo")

// parseEchoReply reports whether b is an ICMPv4 echo reply to one of our
// requests of this sweep (matched on the payload: ping sockets rewrite the
// identifier).
func parseEchoReply(b []byte, nonce [8]byte) error {
	if len(b) < 8+echoPayloadLen || b[0] != icmpEchoReply || b[1] != 0 {
		return errNotOurEcho
	}
	if !bytes.Equal(b[8:16], echoMagic) || !bytes.Equal(b[16:24], nonce[:]) {
		return errNotOurEcho
	}
	return nil
}

// openICMP opens a raw ICMP socket; it needs privilege (CAP_NET_RAW,
// Administrator).
func openICMP() (net.PacketConn, bool, error) {
	c, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return nil, false, fmt.Errorf("opening an ICMP socket: %w", err)
	}
	return c, true, nil
}

func (s *Scanner) icmpSweep(ctx context.Context, addrs []netip.Addr, st *state, progress func(Progress)) error {
	var v4 []netip.Addr
	for _, a := range addrs {
		if a.Is4() {
			v4 = append(v4, a)
		}
	}
	if len(v4) == 0 {
		return nil
	}
	c, raw, err := openICMP()
	if err != nil {
		return err
	}
	var nonce [8]byte
	rand.Read(nonce[:])
	id := binary.BigEndian.Uint16(nonce[:2])

	var mu sync.Mutex
	sentAt := make(map[netip.Addr]time.Time, len(v4))
	got := make(map[netip.Addr]bool, len(v4))
	for _, a := range v4 {
		sentAt[a] = time.Time{}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return // closed
			}
			if parseEchoReply(buf[:n], nonce) != nil {
				continue
			}
			ip, ok := addrOf(from)
			if !ok {
				continue
			}
			now := time.Now()
			mu.Lock()
			t, asked := sentAt[ip]
			first := asked && !got[ip] && !t.IsZero()
			if first {
				got[ip] = true
			}
			mu.Unlock()
			if first {
				st.add(ip, wire.MethodICMP, nil, now.Sub(t), 0)
			}
		}
	})
	defer func() {
		c.Close()
		wg.Wait()
	}()
	var seq uint16
	send := func(a netip.Addr) error {
		mu.Lock()
		if sentAt[a].IsZero() {
			sentAt[a] = time.Now()
		}
		seq++
		msg := echoRequest(id, seq, nonce)
		mu.Unlock()
		var dst net.Addr = &net.IPAddr{IP: a.AsSlice()}
		if !raw {
			dst = &net.UDPAddr{IP: a.AsSlice()}
		}
		_, err := c.WriteTo(msg, dst)
		if err != nil && isUnreachable(err) {
			return nil // no route to this one; the others may still answer
		}
		return err
	}
	answered := func(a netip.Addr) bool {
		mu.Lock()
		defer mu.Unlock()
		return got[a]
	}
	return s.passes(ctx, s.lim, "icmp", v4, st, send, answered, progress)
}

func addrOf(a net.Addr) (netip.Addr, bool) {
	var ip net.IP
	switch v := a.(type) {
	case *net.IPAddr:
		ip = v.IP
	case *net.UDPAddr:
		ip = v.IP
	default:
		return netip.Addr{}, false
	}
	na, ok := netip.AddrFromSlice(ip)
	return na.Unmap(), ok
}
