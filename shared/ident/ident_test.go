package ident

import (
	"errors"
	"testing"
)

func TestParseMAC(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"00:11:22:aa:bb:cc", "00:11:22:aa:bb:cc", true},
		{"00-11-22-AA-BB-CC", "00:11:22:aa:bb:cc", true},
		{"0011.22aa.bbcc", "00:11:22:aa:bb:cc", true},
		{"00:11:22:33:44:55:66:77", "", false}, // EUI-64
		{"", "", false},
		{"zz:11:22:33:44:55", "", false},
		{"00:11:22:33:44", "", false},
	}
	for _, c := range cases {
		got, err := NormalizeMAC(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("NormalizeMAC(%q) = %q, %v; want %q, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestMACKinds(t *testing.T) {
	cases := []struct {
		in                         string
		local, multicast, identity bool
	}{
		{"00:11:22:33:44:55", false, false, true},
		{"3c:22:fb:01:02:03", false, false, true},
		{"da:a1:19:00:00:01", true, false, false}, // randomised (iOS/Android/Windows)
		{"02:42:ac:11:00:02", true, false, false}, // docker
		{"01:00:5e:00:00:fb", false, true, false}, // mDNS multicast
		{"00:00:00:00:00:00", false, false, false},
		{"ff:ff:ff:ff:ff:ff", true, true, false},
	}
	for _, c := range cases {
		m, err := ParseMAC(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if m.IsLocallyAdministered() != c.local || m.IsMulticast() != c.multicast || m.IsIdentity() != c.identity {
			t.Errorf("%s: local=%v multicast=%v identity=%v; want %v %v %v", c.in,
				m.IsLocallyAdministered(), m.IsMulticast(), m.IsIdentity(), c.local, c.multicast, c.identity)
		}
	}
}

func TestIsPlaceholder(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"To be filled by O.E.M.", true},
		{"  to be filled by o.e.m.  ", true},
		{"Default string", true},
		{"System Serial Number", true},
		{"Not Specified", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", true},
		{"03000200-0400-0500-0006-000700080009", true},
		{"0", true},
		{"", true},
		{"   ", true},
		{"XXXXXXXXXX", true},
		{"4c4c4544-0051-3510-8057-b4c04f4a4e32", false},
		{"C02XK1ZPJG5H", false},
		{"PF2ABCDE", false},
		{"VMware-56 4d 8e 1a 2b 3c 4d 5e-6f 70 81 92 a3 b4 c5 d6", false},
	}
	for _, c := range cases {
		if got := IsPlaceholder(c.in); got != c.want {
			t.Errorf("IsPlaceholder(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestCleanIdentifier(t *testing.T) {
	if got, err := CleanIdentifier("  C02XK1ZPJG5H\n"); err != nil || got != "C02XK1ZPJG5H" {
		t.Errorf("CleanIdentifier = %q, %v", got, err)
	}
	if _, err := CleanIdentifier("Default string"); !errors.Is(err, ErrPlaceholder) {
		t.Errorf("CleanIdentifier(placeholder) = %v, want ErrPlaceholder", err)
	}
}

func FuzzParseMAC(f *testing.F) {
	for _, s := range []string{"00:11:22:33:44:55", "0011.2233.4455", "00-11-22-33-44-55", ":::::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMAC(s)
		if err != nil {
			return
		}
		again, err := ParseMAC(m.String())
		if err != nil || again != m {
			t.Fatalf("ParseMAC(%q) = %v, round trip gives %v, %v", s, m, again, err)
		}
	})
}
