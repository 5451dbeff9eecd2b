package snmp

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
)

// Records are written one a line as "[@VLAN ]OID TYPE VALUE", TYPE one of
// s (an octet string, Go-quoted), x (an octet string in hex), i (Integer),
// u (Gauge32), c (Counter32), C (Counter64), t (TimeTicks), o (OBJECT
// IDENTIFIER), a (IpAddress). Test cases and dumps of real devices use it;
// lines starting with # are comments.

// WriteRecords writes recs in the text form.
func WriteRecords(w io.Writer, recs []Record) error {
	bw := bufio.NewWriter(w)
	for _, r := range recs {
		if r.VLAN != 0 {
			fmt.Fprintf(bw, "@%d ", r.VLAN)
		}
		p := r.PDU
		name := strings.TrimPrefix(p.Name, ".")
		switch p.Type {
		case gosnmp.OctetString:
			b, _ := p.Value.([]byte)
			if utf8.Valid(b) && strconv.CanBackquote(string(b)) && !strings.ContainsAny(string(b), "`") {
				fmt.Fprintf(bw, "%s s %s\n", name, strconv.Quote(string(b)))
			} else {
				fmt.Fprintf(bw, "%s x %s\n", name, hex.EncodeToString(b))
			}
		case gosnmp.Integer:
			fmt.Fprintf(bw, "%s i %v\n", name, p.Value)
		case gosnmp.Gauge32, gosnmp.Uinteger32:
			fmt.Fprintf(bw, "%s u %v\n", name, p.Value)
		case gosnmp.Counter32:
			fmt.Fprintf(bw, "%s c %v\n", name, p.Value)
		case gosnmp.Counter64:
			fmt.Fprintf(bw, "%s C %v\n", name, p.Value)
		case gosnmp.TimeTicks:
			fmt.Fprintf(bw, "%s t %v\n", name, p.Value)
		case gosnmp.ObjectIdentifier:
			fmt.Fprintf(bw, "%s o %s\n", name, strings.TrimPrefix(fmt.Sprint(p.Value), "."))
		case gosnmp.IPAddress:
			fmt.Fprintf(bw, "%s a %v\n", name, p.Value)
		default:
			fmt.Fprintf(bw, "# %s type %v\n", name, p.Type)
		}
	}
	return bw.Flush()
}

// ReadRecords parses the text form.
func ReadRecords(r io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		var rec Record
		if text[0] == '@' {
			v, rest, _ := strings.Cut(text[1:], " ")
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("line %d: bad VLAN %q", line, v)
			}
			rec.VLAN, text = n, rest
		}
		f := strings.SplitN(text, " ", 3)
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want OID TYPE VALUE", line)
		}
		if !validOID(strings.TrimPrefix(f[0], ".")) {
			return nil, fmt.Errorf("line %d: bad OID %.64q", line, f[0])
		}
		p := gosnmp.SnmpPDU{Name: "." + strings.TrimPrefix(f[0], ".")}
		var err error
		switch f[1] {
		case "s":
			var s string
			s, err = strconv.Unquote(f[2])
			p.Type, p.Value = gosnmp.OctetString, []byte(s)
		case "x":
			var b []byte
			b, err = hex.DecodeString(f[2])
			p.Type, p.Value = gosnmp.OctetString, b
		case "i":
			var n int64
			n, err = strconv.ParseInt(f[2], 10, 32)
			p.Type, p.Value = gosnmp.Integer, int(n)
		case "u", "c", "t":
			var n uint64
			n, err = strconv.ParseUint(f[2], 10, 32)
			p.Type, p.Value = map[string]gosnmp.Asn1BER{"u": gosnmp.Gauge32, "c": gosnmp.Counter32, "t": gosnmp.TimeTicks}[f[1]], uint32(n)
		case "C":
			var n uint64
			n, err = strconv.ParseUint(f[2], 10, 64)
			p.Type, p.Value = gosnmp.Counter64, n
		case "o":
			p.Type, p.Value = gosnmp.ObjectIdentifier, "."+strings.TrimPrefix(f[2], ".")
		case "a":
			p.Type, p.Value = gosnmp.IPAddress, f[2]
		default:
			err = fmt.Errorf("unknown type %q", f[1])
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		rec.PDU = p
		out = append(out, rec)
	}
	return out, sc.Err()
}
