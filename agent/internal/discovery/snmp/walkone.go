package snmp

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
)

// Walk reads the subtrees under oids from the device at addr with the
// credential c — each walk bounded in records and time as in a scan — and
// calls fn with each subtree's records in OID order. It stops at the first
// error, fn's included.
func (p *Prober) Walk(ctx context.Context, addr netip.Addr, c Credential, oids []string, fn func([]Record) error) error {
	if err := c.Validate(); err != nil {
		return err
	}
	for _, oid := range oids {
		if _, ok := parseOID(oid); !ok {
			return fmt.Errorf("%.64q is not a numeric OID", oid)
		}
	}
	s, err := p.dial(ctx, addr, c)
	if err != nil {
		return err
	}
	defer s.close()
	for _, oid := range oids {
		recs, err := p.walk(ctx, s, oid, 0)
		if ferr := fn(recs); ferr != nil {
			return ferr
		}
		if err != nil {
			return fmt.Errorf("walking %s: %w", oid, err)
		}
	}
	return nil
}

// FormatPDU renders one variable the way net-snmp's tools print it with
// numeric OIDs (".1.3.6.1.2.1.1.5.0 = STRING: \"sw1\""). A device's string
// is quoted with every control or invalid byte escaped, so no device can
// write to a terminal through it.
func FormatPDU(v gosnmp.SnmpPDU) string {
	name := v.Name
	if !strings.HasPrefix(name, ".") {
		name = "." + name
	}
	var val string
	switch v.Type {
	case gosnmp.OctetString:
		b, _ := v.Value.([]byte)
		if utf8.Valid(b) && printable(b) {
			val = "STRING: " + strconv.Quote(string(b))
		} else {
			val = "Hex-STRING: " + strings.ToUpper(spaced(hex.EncodeToString(b)))
		}
	case gosnmp.Integer:
		val = fmt.Sprintf("INTEGER: %v", v.Value)
	case gosnmp.Counter32:
		val = fmt.Sprintf("Counter32: %v", v.Value)
	case gosnmp.Gauge32:
		val = fmt.Sprintf("Gauge32: %v", v.Value)
	case gosnmp.Counter64:
		val = fmt.Sprintf("Counter64: %v", gosnmp.ToBigInt(v.Value))
	case gosnmp.TimeTicks:
		val = fmt.Sprintf("Timeticks: (%v)", v.Value)
	case gosnmp.ObjectIdentifier:
		s, _ := v.Value.(string)
		val = "OID: " + escape(s)
	case gosnmp.IPAddress:
		s, _ := v.Value.(string)
		val = "IpAddress: " + escape(s)
	case gosnmp.Null, gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView:
		val = v.Type.String()
	default:
		val = fmt.Sprintf("%s: %s", v.Type, strconv.Quote(fmt.Sprint(v.Value)))
	}
	return escape(name) + " = " + val
}

// escape is strconv.Quote without the quotes.
func escape(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

func printable(b []byte) bool {
	for _, r := range string(b) {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return false
		}
	}
	return true
}

func spaced(h string) string {
	var sb strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}
