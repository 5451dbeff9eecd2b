package snmp

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
)

// Walk reads the subtrees under oids from the device at addr with the
// credential c — each walk bounded in records and time as in a scan — and
// hands fn each record in OID order, subtree after subtree, each
// answer's records as soon as everything before them is handed over. A
// table's columns are read side by side, several to a GETBULK request, as
// net-snmp's snmptable does, with a request in flight on each of
// walkSessions sessions. It stops at the first error, fn's included.
func (p *Prober) Walk(ctx context.Context, addr netip.Addr, c Credential, oids []string, fn func(Record) error) error {
	return walkEach(ctx, p, addr, c, oids, appendRecord, func(_ int, acc []Record) ([]Record, error) {
		for _, r := range acc {
			if err := fn(r); err != nil {
				return acc[:0], err
			}
		}
		return acc[:0], nil
	})
}

// WalkText is Walk printing each record to w as FormatPDU does, a line
// each. What waits for earlier records is held as text.
func (p *Prober) WalkText(ctx context.Context, addr netip.Addr, c Credential, oids []string, w io.Writer) error {
	return walkEach(ctx, p, addr, c, oids, func(b []byte, r Record) []byte {
		return append(AppendPDU(b, r.PDU), '\n')
	}, func(_ int, b []byte) ([]byte, error) {
		_, err := w.Write(b)
		return b[:0], err
	})
}

// walkSessions is how many requests Walk keeps in flight.
const walkSessions = 2

func walkEach[T any](ctx context.Context, p *Prober, addr netip.Addr, c Credential, oids []string, add addFunc[T], flush flushFunc[T]) error {
	if err := c.Validate(); err != nil {
		return err
	}
	for _, oid := range oids {
		if _, ok := parseOID(oid); !ok {
			return fmt.Errorf("%.64q is not a numeric OID", oid)
		}
	}
	// The device computes one answer while the other is read (SNMPv1
	// uses the first session alone).
	var ss []*session
	defer func() {
		for _, s := range ss {
			s.close()
		}
	}()
	for range walkSessions {
		s, err := p.dial(ctx, addr, c)
		if err != nil {
			return err
		}
		ss = append(ss, s)
	}
	for _, oid := range oids {
		errs, err := walkRoots(ctx, p, ss, []string{oid}, 0, true, add, flush)
		if err != nil {
			return err
		}
		if errs[0] != nil {
			return fmt.Errorf("walking %s: %w", oid, errs[0])
		}
	}
	return nil
}

// FormatPDU renders one variable the way net-snmp's tools print it with
// numeric OIDs (".1.3.6.1.2.1.1.5.0 = STRING: \"sw1\""). A device's string
// is quoted with every control or invalid byte escaped, so no device can
// write to a terminal through it.
func FormatPDU(v gosnmp.SnmpPDU) string {
	return string(AppendPDU(nil, v))
}

// AppendPDU appends FormatPDU(v) to b.
func AppendPDU(b []byte, v gosnmp.SnmpPDU) []byte {
	if !strings.HasPrefix(v.Name, ".") {
		b = append(b, '.')
	}
	b = appendEscaped(b, v.Name)
	b = append(b, " = "...)
	switch v.Type {
	case gosnmp.OctetString:
		s, _ := v.Value.([]byte)
		if utf8.Valid(s) && printable(s) {
			b = append(b, "STRING: "...)
			b = strconv.AppendQuote(b, string(s))
		} else {
			b = append(b, "Hex-STRING: "...)
			for i, c := range s {
				if i > 0 {
					b = append(b, ' ')
				}
				b = append(b, hexDigits[c>>4], hexDigits[c&15])
			}
		}
	case gosnmp.Integer:
		b = appendNumber(append(b, "INTEGER: "...), v.Value)
	case gosnmp.Counter32:
		b = appendNumber(append(b, "Counter32: "...), v.Value)
	case gosnmp.Gauge32:
		b = appendNumber(append(b, "Gauge32: "...), v.Value)
	case gosnmp.Counter64:
		b = fmt.Appendf(append(b, "Counter64: "...), "%v", gosnmp.ToBigInt(v.Value))
	case gosnmp.TimeTicks:
		b = append(appendNumber(append(b, "Timeticks: ("...), v.Value), ')')
	case gosnmp.ObjectIdentifier:
		s, _ := v.Value.(string)
		b = appendEscaped(append(b, "OID: "...), s)
	case gosnmp.IPAddress:
		s, _ := v.Value.(string)
		b = appendEscaped(append(b, "IpAddress: "...), s)
	case gosnmp.Null, gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView:
		b = append(b, v.Type.String()...)
	default:
		b = fmt.Appendf(b, "%s: %s", v.Type, strconv.Quote(fmt.Sprint(v.Value)))
	}
	return b
}

const hexDigits = "0123456789ABCDEF"

// appendNumber appends an integer value as fmt's %v would.
func appendNumber(b []byte, v any) []byte {
	switch n := v.(type) {
	case int:
		return strconv.AppendInt(b, int64(n), 10)
	case uint:
		return strconv.AppendUint(b, uint64(n), 10)
	case uint32:
		return strconv.AppendUint(b, uint64(n), 10)
	case uint64:
		return strconv.AppendUint(b, n, 10)
	case int64:
		return strconv.AppendInt(b, n, 10)
	}
	return fmt.Append(b, v)
}

// appendEscaped appends s as strconv.Quote would, without the quotes.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			q := strconv.Quote(s)
			return append(b, q[1:len(q)-1]...)
		}
	}
	return append(b, s...)
}

func printable(b []byte) bool {
	for _, r := range string(b) {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return false
		}
	}
	return true
}
