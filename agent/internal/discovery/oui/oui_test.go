package oui

import (
	"testing"

	"github.com/umbrasec/umbra/shared/ident"
)

func TestLookup(t *testing.T) {
	if n := Len(); n < 30000 {
		t.Fatalf("table has %d assignments, want the IEEE registries", n)
	}
	cases := []struct {
		mac, want string
		local     bool
	}{
		{"00:00:0c:9f:f0:01", "Cisco Systems, Inc", false},
		{"3c:d9:2b:10:00:0a", "Hewlett Packard", false},
		{"00:1b:21:10:00:17", "Intel Corporate", false},
		{"3a:7c:11:10:00:16", "", true},
		{"02:00:5e:10:00:fa", "", true},
	}
	for _, c := range cases {
		m, err := ident.ParseMAC(c.mac)
		if err != nil {
			t.Fatal(err)
		}
		got, local := Lookup(m)
		if got != c.want || local != c.local {
			t.Errorf("Lookup(%s) = %q, %v; want %q, %v", c.mac, got, local, c.want, c.local)
		}
	}
}

// A 36-bit (MA-S) assignment wins over the 24-bit block it sits in.
func TestLookupMostSpecific(t *testing.T) {
	once.Do(load)
	for _, off := range lines {
		k, v := string(prefix(off)), org(off)
		if len(k) != 9 {
			continue
		}
		m, err := ident.ParseMAC(k[:2] + ":" + k[2:4] + ":" + k[4:6] + ":" + k[6:8] + ":" + k[8:] + "0:00")
		if err != nil {
			t.Fatal(err)
		}
		if m.IsLocallyAdministered() {
			continue
		}
		if got, _ := Lookup(m); got != v {
			t.Errorf("Lookup(%s) = %q, want the MA-S holder %q", m, got, v)
		}
		return
	}
	t.Skip("no MA-S entries")
}

// TestLookupEveryPrefix looks every assignment of the table up through a
// MAC inside it: the sorted index must find them all.
func TestLookupEveryPrefix(t *testing.T) {
	once.Do(load)
	for _, off := range lines {
		k := string(prefix(off)) + "000000000"
		m, err := ident.ParseMAC(k[:2] + ":" + k[2:4] + ":" + k[4:6] + ":" + k[6:8] + ":" + k[8:10] + ":" + k[10:12])
		if err != nil {
			t.Fatal(err)
		}
		if m.IsLocallyAdministered() {
			continue
		}
		if got, _ := Lookup(m); got == "" {
			t.Errorf("Lookup(%s) = nothing, want an organisation for prefix %s", m, prefix(off))
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		load()
	}
}
