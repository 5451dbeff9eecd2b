package snmp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
	"github.com/umbrasec/umbra/shared/wire"
)

func TestDisplayString(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Cisco IOS", "Cisco IOS"},
		{"line1\r\nline2", "line1 line2"},
		{"cut\x00here", "cut"},
		{"\xff\xfeok", "\uFFFD\uFFFDok"},
		{"\x1b[31mred", "[31mred"},
		{"a\u202eb", "a b"},
		{"  padded  ", "padded"},
		{strings.Repeat("é", 400), strings.Repeat("é", 256)},
	} {
		if got := DisplayString([]byte(c.in)); got != c.want {
			t.Errorf("DisplayString(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestValueMAC(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{[]byte{0, 0x1b, 0x21, 1, 2, 3}, "00:1b:21:01:02:03"},
		{[]byte{0, 0, 0, 0, 0, 0}, ""},
		{[]byte{1, 2, 3}, ""},
		{[]byte("00:1B:21:01:02:03"), "00:1b:21:01:02:03"},
		{"001b.2101.0203", "00:1b:21:01:02:03"},
		{42, ""},
	} {
		if got := valueMAC(gosnmp.SnmpPDU{Value: c.v}); got != c.want {
			t.Errorf("valueMAC(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestParseV3(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"umbrav3:SHA:umbra-auth-pass:AES:umbra-priv-pass", "v3 user umbrav3 auth SHA priv AES", false},
		{"u:sha-256:12345678:aes-256-c:12345678", "v3 user u auth SHA256 priv AES256C", false},
		{"u:SHA512:12345678:AES192:12345678", "v3 user u auth SHA512 priv AES192", false},
		{"u:MD5:12345678:DES:12345678", "v3 user u auth MD5 priv DES", false},
		{"u:SHA224:12345678", "v3 user u auth SHA224", false},
		{"u:SHA384:12345678:none:", "v3 user u auth SHA384", false},
		{"u", "v3 user u", false},
		{"u:SHA:short", "", true},
		{"u:BLAKE:12345678", "", true},
		{"u:SHA:12345678:RC4:12345678", "", true},
		{":SHA:12345678", "", true},
		{"u:SHA", "", true},
	} {
		c0, err := ParseV3(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("ParseV3(%q) error %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if err == nil && c0.String() != c.want {
			t.Errorf("ParseV3(%q) = %s, want %s", c.in, c0, c.want)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	c, err := ParseV3("user:SHA:topsecret-auth:AES:topsecret-priv")
	if err != nil {
		t.Fatal(err)
	}
	c2 := Community("topsecret-community")
	js, _ := json.Marshal([]Credential{c, c2})
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c2), fmt.Sprintf("%+v %#v", c2, c2), string(js)} {
		if strings.Contains(s, "topsecret") {
			t.Errorf("a secret printed: %s", s)
		}
	}
}

func TestStoreRemembers(t *testing.T) {
	s := NewMemoryStore()
	a := netip.MustParseAddr("10.0.0.1")
	if _, ok := s.Get(a); ok {
		t.Fatal("empty store has a credential")
	}
	s.Put(a, Community("x"))
	if c, ok := s.Get(a); !ok || c != Community("x") {
		t.Errorf("Get = %v, %v", c, ok)
	}
}

func TestVLANs(t *testing.T) {
	recs := []Record{
		{PDU: gosnmp.SnmpPDU{Name: ".1.3.6.1.4.1.9.9.46.1.3.1.1.2.1.1", Value: 1}},
		{PDU: gosnmp.SnmpPDU{Name: ".1.3.6.1.4.1.9.9.46.1.3.1.1.2.1.20", Value: 1}},
		{PDU: gosnmp.SnmpPDU{Name: ".1.3.6.1.4.1.9.9.46.1.3.1.1.2.1.30", Value: 2}},
		{PDU: gosnmp.SnmpPDU{Name: ".1.3.6.1.4.1.9.9.46.1.3.1.1.2.1.1003", Value: 1}},
		{PDU: gosnmp.SnmpPDU{Name: ".1.3.6.1.4.1.9.9.46.1.3.1.1.2.1.5000", Value: 1}},
	}
	if got := fmt.Sprint(vlans(recs, 64)); got != "[1 20]" {
		t.Errorf("vlans = %s, want [1 20]", got)
	}
	if got := fmt.Sprint(vlans(recs, 1)); got != "[1]" {
		t.Errorf("vlans limited to 1 = %s", got)
	}
}

// FuzzDecode feeds records in the text form (as a device could send any
// OID with any value) through Decode and Observations: no panic, and every
// string that comes out is valid UTF-8 within the wire limits.
func FuzzDecode(f *testing.F) {
	f.Add("1.3.6.1.2.1.1.1.0 s \"Cisco\"\n1.3.6.1.2.1.2.2.1.6.1 x 001b21010203\n1.3.6.1.2.1.2.2.1.3.1 i 6\n")
	f.Add("1.3.6.1.2.1.4.35.1.4.2.2.16.254.128.0.0.0.0.0.0.2.17.34.255.254.51.68.102 x 001122334466\n")
	f.Add("@10 1.3.6.1.2.1.17.4.3.1.2.0.80.86.170.0.1 i 1\n1.0.8802.1.1.2.1.4.1.1.5.0.1.1 x 01\n")
	f.Add("1.3.6.1.2.1.17.7.1.2.2.1.2.20.58.124.17.16.0.22 i 7\n1.3.6.1.2.1.47.1.1.1.1.5.1 i 3\n")
	f.Fuzz(func(t *testing.T, text string) {
		recs, err := ReadRecords(strings.NewReader(text))
		if err != nil {
			return
		}
		d := Decode(netip.MustParseAddr("10.0.0.1"), recs)
		obs := Observations(d, time.Unix(0, 0), "", nil)
		js, err := json.Marshal(obs)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(js) {
			t.Fatalf("invalid UTF-8 out: %q", js)
		}
		for _, o := range obs {
			for _, s := range []string{o.Hostname, o.Vendor, o.Model, o.Serial, o.Port} {
				if len(s) > 1024 {
					t.Fatalf("a %d-byte string", len(s))
				}
			}
			if len(o.Evidence) > wire.MaxObservationItems || len(o.Kinds) > wire.MaxObservationItems {
				t.Fatal("too many items")
			}
		}
	})
}

// FuzzDisplayString checks the decoder of every string a device sends.
func FuzzDisplayString(f *testing.F) {
	for _, s := range []string{"Linux host 6.1", "\x00", "\xff\xfe", "a\r\nb", "\u202e", strings.Repeat("ß", 300)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := DisplayString(b)
		if !utf8.ValidString(s) || len(s) > maxString {
			t.Fatalf("DisplayString(%q) = %q", b, s)
		}
		for _, r := range s {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("DisplayString(%q) = %q has a control character", b, s)
			}
		}
		if s != strings.TrimSpace(s) {
			t.Fatalf("DisplayString(%q) = %q is not trimmed", b, s)
		}
		_ = valueMAC(gosnmp.SnmpPDU{Value: b})
		_ = lldpCaps(gosnmp.SnmpPDU{Value: b})
	})
}

// FuzzReadRecords checks that the text form never panics and round-trips.
func FuzzReadRecords(f *testing.F) {
	f.Add("1.3.6.1.2.1.1.1.0 s \"x\"\n@5 1.3 i 1\n1.3 o 1.3.6\n1.3 a 1.2.3.4\n1.3 C 5\n")
	f.Fuzz(func(t *testing.T, text string) {
		recs, err := ReadRecords(strings.NewReader(text))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteRecords(&buf, recs); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadRecords(&buf); err != nil {
			t.Fatalf("WriteRecords wrote what ReadRecords refuses: %v\n%s", err, buf.String())
		}
	})
}
