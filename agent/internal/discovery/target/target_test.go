package target

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func addrs(s *Set) []string {
	var out []string
	for a := range s.All() {
		out = append(out, a.String())
	}
	return out
}

func TestParse(t *testing.T) {
	cases := []struct {
		specs, excludes []string
		want            []string
	}{
		{[]string{"198.18.1.0/30"}, nil, []string{"198.18.1.1", "198.18.1.2"}},
		{[]string{"198.18.1.0/31"}, nil, []string{"198.18.1.0", "198.18.1.1"}},
		{[]string{"198.18.1.7/32"}, nil, []string{"198.18.1.7"}},
		{[]string{"198.18.1.7"}, nil, []string{"198.18.1.7"}},
		{[]string{"198.18.1.5-7"}, nil, []string{"198.18.1.5", "198.18.1.6", "198.18.1.7"}},
		{[]string{"198.18.1.254-198.18.2.1"}, nil, []string{"198.18.1.254", "198.18.1.255", "198.18.2.0", "198.18.2.1"}},
		{[]string{"198.18.1.5-7", "198.18.1.6"}, nil, []string{"198.18.1.5", "198.18.1.6", "198.18.1.7"}},
		{[]string{"198.18.1.0/29"}, []string{"198.18.1.3-4", "198.18.1.6"}, []string{"198.18.1.1", "198.18.1.2", "198.18.1.5"}},
		{[]string{"198.18.1.0/29"}, []string{"198.18.1.0/24"}, nil},
		{[]string{"2001:db8::1-2001:db8::2"}, nil, []string{"2001:db8::1", "2001:db8::2"}},
		{[]string{"::ffff:198.18.1.1"}, nil, []string{"198.18.1.1"}},
		{[]string{"198.18.1.9", "198.18.1.1"}, nil, []string{"198.18.1.1", "198.18.1.9"}},
	}
	for _, c := range cases {
		s, err := Parse(c.specs, c.excludes, 0)
		if err != nil {
			t.Errorf("Parse(%q, %q) = %v", c.specs, c.excludes, err)
			continue
		}
		if got := addrs(s); !slices.Equal(got, c.want) {
			t.Errorf("Parse(%q, %q) = %v, want %v", c.specs, c.excludes, got, c.want)
		}
		if s.Len() != len(c.want) {
			t.Errorf("Parse(%q, %q).Len() = %d, want %d", c.specs, c.excludes, s.Len(), len(c.want))
		}
		for _, w := range c.want {
			if !s.Contains(netip.MustParseAddr(w)) {
				t.Errorf("Parse(%q).Contains(%s) = false", c.specs, w)
			}
		}
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct {
		specs  []string
		max    int
		substr string
	}{
		{nil, 0, "no targets"},
		{[]string{"198.18.1.0/33"}, 0, "not a CIDR"},
		{[]string{"example.com"}, 0, "not an address"},
		{[]string{"198.18.1.9-198.18.1.1"}, 0, "not an address range"},
		{[]string{"198.18.1.9-2001:db8::1"}, 0, "not an address range"},
		{[]string{"198.18.1.1-256"}, 0, "not an address range"},
		{[]string{"10.0.0.0/8"}, 0, "exceed"},
		{[]string{"198.18.0.0/15"}, 0, "exceed"},
		{[]string{"198.18.0.0/24"}, 100, "exceed"},
		{[]string{"0.0.0.0/0"}, 1 << 30, "exceed"},
		{[]string{"2001:db8::/32"}, 0, "cannot be swept"},
		{[]string{"2001:db8::/64"}, 1 << 30, "exceed"},
		{[]string{"fe80::1%eth0"}, 0, "not an address"},
	}
	for _, c := range cases {
		_, err := Parse(c.specs, nil, c.max)
		if err == nil || !strings.Contains(err.Error(), c.substr) {
			t.Errorf("Parse(%q, max %d) = %v, want an error containing %q", c.specs, c.max, err, c.substr)
		}
	}
	if _, err := Parse([]string{"198.18.0.0/15"}, nil, 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Parse(/15) = %v, want ErrTooLarge", err)
	}
	// A /16 is exactly the default bound; exclusions count before the bound.
	if _, err := Parse([]string{"198.18.0.0/16"}, nil, 0); err != nil {
		t.Errorf("Parse(/16) = %v", err)
	}
	if _, err := Parse([]string{"198.18.0.0/15"}, []string{"198.19.0.0/16"}, 0); err != nil {
		t.Errorf("Parse(/15 minus /16) = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"198.18.1.0/24", "198.18.1.1-9", "::1", "1.2.3.4-1.2.4.4", "a-b"} {
		f.Add(s, "198.18.1.3")
	}
	f.Fuzz(func(t *testing.T, spec, exclude string) {
		s, err := Parse([]string{spec}, []string{exclude}, 4096)
		if err != nil {
			return
		}
		if s.Len() > 4096 {
			t.Fatalf("Parse(%q) has %d addresses, above the bound", spec, s.Len())
		}
		n := 0
		for a := range s.All() {
			n++
			if !s.Contains(a) {
				t.Fatalf("Parse(%q) yields %s it does not contain", spec, a)
			}
		}
		if n != s.Len() {
			t.Fatalf("Parse(%q) yields %d addresses, Len %d", spec, n, s.Len())
		}
	})
}
