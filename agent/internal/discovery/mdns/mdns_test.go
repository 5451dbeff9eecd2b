package mdns

import (
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/umbrasec/umbra/shared/wire"
)

func TestCleanType(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"_ipp._tcp.local.", "_ipp._tcp"},
		{"_googlecast._tcp", "_googlecast._tcp"},
		{"_HAP._TCP.local", "_hap._tcp"},
		{"_services._dns-sd._udp.local.", ""},
		{"printer.local", ""},
		{"_x._sctp", ""},
		{"_a b._tcp", ""},
	} {
		if got := cleanType(c.in); got != c.want {
			t.Errorf("cleanType(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestUnescapeInstance(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`HP\ LaserJet\ M404\ \(office\)`, "HP LaserJet M404 (office)"},
		{`Living\032Room`, "Living Room"},
		{`trailing\`, `trailing\`},
		{`\999x`, "999x"},
	} {
		if got := unescapeInstance(c.in); got != c.want {
			t.Errorf("unescapeInstance(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCleanTXT(t *testing.T) {
	got := CleanTXT([]string{"ty=HP", "", "TY=other", "note=a\x00b\nc", "=novalue", "flag", strings.Repeat("x", 400)})
	want := []string{"ty=HP", "note=a b c", "flag", strings.Repeat("x", 255)}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("CleanTXT = %q, want %q", got, want)
	}
}

func TestObservations(t *testing.T) {
	ip := netip.MustParseAddr("198.18.1.10")
	svcs := []Service{
		{Instance: "HP LaserJet", Type: "_ipp._tcp", Host: "NPI0A000A.local", Port: 631, Addrs: []netip.Addr{ip}, TXT: []string{"ty=HP LaserJet Pro M404dn"}},
		{Instance: "TV", Type: "_googlecast._tcp", Host: "tv.local", Port: 8009, Addrs: []netip.Addr{netip.MustParseAddr("198.18.1.20")}},
	}
	obs := Observations(svcs, time.Unix(1, 0), "")
	if len(obs) != 2 {
		t.Fatalf("%d observations, want 2", len(obs))
	}
	o := obs[0]
	if o.Method != wire.MethodMDNS || o.IP != ip.String() || o.Hostname != "NPI0A000A" || o.Model != "HP LaserJet Pro M404dn" || o.Kinds[0].Kind != wire.KindPrinter {
		t.Errorf("printer observation = %+v", o)
	}
	if obs[1].Kinds[0].Kind != wire.KindMedia {
		t.Errorf("media observation = %+v", obs[1])
	}
}

// FuzzCleanTXT checks the decoder of TXT records, which come from anyone
// on the link.
func FuzzCleanTXT(f *testing.F) {
	f.Add("ty=HP LaserJet", "md=Chromecast", "\xff\xfe=\x00")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		out := CleanTXT([]string{a, b, c, unescapeInstance(a)})
		for _, s := range out {
			if !utf8.ValidString(s) || len(s) > maxTXTString || s == "" {
				t.Fatalf("CleanTXT gave %q", s)
			}
			for _, r := range s {
				if r < 0x20 || r == 0x7f {
					t.Fatalf("control character in %q", s)
				}
			}
		}
		if s := CleanText(a, 10); len(s) > 10 || !utf8.ValidString(s) {
			t.Fatalf("CleanText(%q, 10) = %q", a, s)
		}
	})
}
