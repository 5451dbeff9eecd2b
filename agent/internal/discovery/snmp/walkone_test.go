package snmp

import (
	"testing"

	"github.com/gosnmp/gosnmp"
)

func TestFormatPDU(t *testing.T) {
	for _, c := range []struct {
		pdu  gosnmp.SnmpPDU
		want string
	}{
		{gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.1.5.0", Type: gosnmp.OctetString, Value: []byte("sw1")}, `.1.3.6.1.2.1.1.5.0 = STRING: "sw1"`},
		{gosnmp.SnmpPDU{Name: "1.3.6.1.2.1.1.1.0", Type: gosnmp.OctetString, Value: []byte("evil\x1b[2J\"q\"")}, `.1.3.6.1.2.1.1.1.0 = Hex-STRING: 65 76 69 6C 1B 5B 32 4A 22 71 22`},
		{gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.1.1.0", Type: gosnmp.OctetString, Value: []byte("line \"one\"\ttab")}, `.1.3.6.1.2.1.1.1.0 = STRING: "line \"one\"\ttab"`},
		{gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.2.2.1.6.2", Type: gosnmp.OctetString, Value: []byte{0, 0x1b, 0x21, 0x3a, 0x4f, 5}}, `.1.3.6.1.2.1.2.2.1.6.2 = Hex-STRING: 00 1B 21 3A 4F 05`},
		{gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.2.2.1.1.1", Type: gosnmp.Integer, Value: 1}, `.1.3.6.1.2.1.2.2.1.1.1 = INTEGER: 1`},
		{gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.1.3.0", Type: gosnmp.TimeTicks, Value: uint32(12345)}, `.1.3.6.1.2.1.1.3.0 = Timeticks: (12345)`},
		{gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.31.1.1.1.6.1", Type: gosnmp.Counter64, Value: uint64(1) << 40}, `.1.3.6.1.2.1.31.1.1.1.6.1 = Counter64: 1099511627776`},
		{gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.1.2.0", Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.4.1.8072.3.2.10"}, `.1.3.6.1.2.1.1.2.0 = OID: .1.3.6.1.4.1.8072.3.2.10`},
		{gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.4.22.1.3.2.10.0.0.1", Type: gosnmp.IPAddress, Value: "10.0.0.1"}, `.1.3.6.1.2.1.4.22.1.3.2.10.0.0.1 = IpAddress: 10.0.0.1`},
		{gosnmp.SnmpPDU{Name: ".1.3.6.1.2.1.1.9.0", Type: gosnmp.NoSuchObject}, `.1.3.6.1.2.1.1.9.0 = NoSuchObject`},
		// A value of the wrong Go type from a garbled answer prints, it
		// does not panic.
		{gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.OctetString, Value: 42}, `.1.3 = STRING: ""`},
		{gosnmp.SnmpPDU{Name: ".1.3", Type: gosnmp.Counter64, Value: "x"}, `.1.3 = Counter64: 0`},
	} {
		if got := FormatPDU(c.pdu); got != c.want {
			t.Errorf("FormatPDU(%v)\n got %s\nwant %s", c.pdu, got, c.want)
		}
	}
}
