package oui

import (
	"bytes"
	"compress/gzip"
	"io"
	"slices"
	"strings"
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

// all returns every assignment of the table, decompressed whole.
func all(t testing.TB) (prefixes, orgs []string) {
	zr, err := gzip.NewReader(bytes.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(text), "\n"), "\n") {
		p, o, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("line %q: no tab", line)
		}
		prefixes, orgs = append(prefixes, p), append(orgs, o)
	}
	if !slices.IsSorted(prefixes) {
		t.Fatal("the table is not sorted")
	}
	return prefixes, orgs
}

// A 36-bit (MA-S) assignment wins over the 24-bit block it sits in.
func TestLookupMostSpecific(t *testing.T) {
	prefixes, orgs := all(t)
	for i, k := range prefixes {
		v := orgs[i]
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
	prefixes, orgs := all(t)
	if n := Len(); n != len(prefixes) {
		t.Errorf("Len() = %d; the table has %d lines", n, len(prefixes))
	}
	for i, p := range prefixes {
		k := p + "000000000"
		m, err := ident.ParseMAC(k[:2] + ":" + k[2:4] + ":" + k[4:6] + ":" + k[6:8] + ":" + k[8:10] + ":" + k[10:12])
		if err != nil {
			t.Fatal(err)
		}
		if m.IsLocallyAdministered() {
			continue
		}
		// A longer assignment inside this one may win for this MAC.
		if got, _ := Lookup(m); got == "" || got != orgs[i] && (i+1 == len(prefixes) || !strings.HasPrefix(prefixes[i+1], p)) {
			t.Errorf("Lookup(%s) = %q, want %q for prefix %s", m, got, orgs[i], p)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	prefixes, _ := all(b)
	var macs []ident.MAC
	for i := 0; i < len(prefixes); i += 97 {
		m, err := ident.ParseMAC(prefixes[i][:2] + ":" + prefixes[i][2:4] + ":" + prefixes[i][4:6] + ":00:00:01")
		if err == nil && !m.IsLocallyAdministered() {
			macs = append(macs, m)
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		mu.Lock()
		clear(cache) // every lookup reads its block
		mu.Unlock()
		Lookup(macs[i%len(macs)])
	}
}
