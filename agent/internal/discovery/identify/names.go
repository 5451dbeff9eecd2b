package identify

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ReverseDNS returns the name the PTR record of addr gives, or "" when
// there is none — or no DNS at all, which is normal on isolated networks.
// It gives up after timeout.
func ReverseDNS(ctx context.Context, r *net.Resolver, addr netip.Addr, timeout time.Duration) (string, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	names, err := r.LookupAddr(ctx, addr.String())
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && (de.IsNotFound || de.IsTimeout || de.Temporary()) || ctx.Err() != nil {
			return "", nil
		}
		if errors.As(err, &de) {
			// No server reachable, refused, …: no DNS here.
			return "", nil
		}
		return "", fmt.Errorf("reverse DNS for %s: %w", addr, err)
	}
	for _, n := range names {
		if n = CleanName(strings.TrimSuffix(n, ".")); n != "" {
			return n, nil
		}
	}
	return "", nil
}

// CleanName makes a name that came from the network safe to show and
// store: valid UTF-8, no control characters, at most 255 bytes.
func CleanName(s string) string {
	if len(s) > 255 {
		s = s[:255]
	}
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		s = s[n:]
		switch {
		case r == utf8.RuneError && n <= 1:
			b.WriteRune('\uFFFD')
		case unicode.IsControl(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}

// NetBIOS node status (RFC 1002 §4.2.17, §4.2.18).

// NBName is one name of a node status response.
type NBName struct {
	Name   string
	Suffix byte // 0x00 workstation, 0x20 file server, 0x1d master browser, …
	Group  bool
}

// NodeStatus is what a host answered to a node status query.
type NodeStatus struct {
	Names []NBName
	MAC   net.HardwareAddr // the "unit ID"; all zero on Samba
}

// Hostname returns the unique workstation name (suffix 0x00), if any.
func (s NodeStatus) Hostname() string {
	for _, n := range s.Names {
		if n.Suffix == 0 && !n.Group {
			return n.Name
		}
	}
	return ""
}

// Workgroup returns the group name with suffix 0x00, if any.
func (s NodeStatus) Workgroup() string {
	for _, n := range s.Names {
		if n.Suffix == 0 && n.Group {
			return n.Name
		}
	}
	return ""
}

const (
	nbTypeNBSTAT = 0x0021
	nbClassIN    = 0x0001
)

// EncodeNodeStatusQuery returns a node status request for the wildcard
// name "*" with transaction id id.
func EncodeNodeStatusQuery(id uint16) []byte {
	b := make([]byte, 0, 50)
	b = binary.BigEndian.AppendUint16(b, id)
	b = append(b, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0) // flags 0, one question
	var name [16]byte
	name[0] = '*'
	b = append(b, 32)
	for _, c := range name {
		b = append(b, 'A'+c>>4, 'A'+c&0x0f)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, nbTypeNBSTAT)
	b = binary.BigEndian.AppendUint16(b, nbClassIN)
	return b
}

var errShort = errors.New("truncated")

// ParseNodeStatus decodes a node status response to the query with id.
func ParseNodeStatus(b []byte, id uint16) (NodeStatus, error) {
	var st NodeStatus
	if len(b) < 12 {
		return st, fmt.Errorf("node status: header %w", errShort)
	}
	if binary.BigEndian.Uint16(b) != id {
		return st, fmt.Errorf("node status: transaction id %d, want %d", binary.BigEndian.Uint16(b), id)
	}
	flags := binary.BigEndian.Uint16(b[2:])
	if flags&0x8000 == 0 {
		return st, errors.New("node status: not a response")
	}
	if rcode := flags & 0x000f; rcode != 0 {
		return st, fmt.Errorf("node status: error code %d", rcode)
	}
	if binary.BigEndian.Uint16(b[6:]) == 0 {
		return st, errors.New("node status: no answer")
	}
	// Skip the questions, if echoed.
	p := 12
	for range binary.BigEndian.Uint16(b[4:]) {
		var err error
		if p, err = skipName(b, p); err != nil {
			return st, err
		}
		p += 4
	}
	p, err := skipName(b, p)
	if err != nil {
		return st, err
	}
	if len(b) < p+10 {
		return st, fmt.Errorf("node status: answer %w", errShort)
	}
	if t := binary.BigEndian.Uint16(b[p:]); t != nbTypeNBSTAT {
		return st, fmt.Errorf("node status: answer type %#x", t)
	}
	rdlen := int(binary.BigEndian.Uint16(b[p+8:]))
	p += 10
	if len(b) < p+rdlen || rdlen < 1 {
		return st, fmt.Errorf("node status: data %w", errShort)
	}
	rd := b[p : p+rdlen]
	n := int(rd[0])
	rd = rd[1:]
	if len(rd) < n*18 {
		return st, fmt.Errorf("node status: %d names %w", n, errShort)
	}
	for i := range n {
		e := rd[i*18 : i*18+18]
		name := CleanName(strings.TrimRight(string(e[:15]), " \x00"))
		st.Names = append(st.Names, NBName{Name: name, Suffix: e[15], Group: e[16]&0x80 != 0})
	}
	rd = rd[n*18:]
	if len(rd) >= 6 {
		st.MAC = net.HardwareAddr(append([]byte(nil), rd[:6]...))
	}
	return st, nil
}

// skipName skips an encoded (possibly compressed) name at b[p:].
func skipName(b []byte, p int) (int, error) {
	for hops := 0; ; hops++ {
		if p >= len(b) || hops > 64 {
			return 0, fmt.Errorf("node status: name %w", errShort)
		}
		l := int(b[p])
		switch {
		case l == 0:
			return p + 1, nil
		case l&0xc0 == 0xc0:
			if p+2 > len(b) {
				return 0, fmt.Errorf("node status: name pointer %w", errShort)
			}
			return p + 2, nil
		case l&0xc0 != 0:
			return 0, fmt.Errorf("node status: bad label length %#x", l)
		}
		p += 1 + l
	}
}

// QueryNetBIOS sends a node status query to addr (UDP 137) and waits at
// most timeout for the answer, resending once halfway. No answer is not an
// error: it returns a zero NodeStatus and ok false.
func QueryNetBIOS(ctx context.Context, addr netip.Addr, timeout time.Duration) (st NodeStatus, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", netip.AddrPortFrom(addr, 137).String())
	if err != nil {
		return st, false, fmt.Errorf("netbios %s: %w", addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	id := uint16(time.Now().UnixNano()>>8) ^ binary.BigEndian.Uint16(addr.AsSlice()[len(addr.AsSlice())-2:])
	q := EncodeNodeStatusQuery(id)
	buf := make([]byte, 1500)
	for try := range 2 {
		if _, err := conn.Write(q); err != nil {
			return st, false, nil // unreachable: nothing there
		}
		dl := time.Now().Add(timeout / 2)
		if d, ok := ctx.Deadline(); ok && d.Before(dl) {
			dl = d
		}
		conn.SetReadDeadline(dl)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && try == 0 && ctx.Err() == nil {
					break
				}
				return st, false, nil // refused, timed out, cancelled: no answer
			}
			if st, err := ParseNodeStatus(buf[:n], id); err == nil {
				return st, true, nil
			}
		}
	}
	return st, false, nil
}
