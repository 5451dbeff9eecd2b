package snmp

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseOID checks the walk's OID parser, which reads every OID a
// device returns, against strings.Split and strconv.ParseUint.
func FuzzParseOID(f *testing.F) {
	for _, s := range []string{".1.3.6.1.2.1.2.2.1.2.7", "1.3", ".1..3", "1.3.", ".", "", "4294967295.1", "4294967296", "1.-3", "1.3a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseOIDInto([]uint32{7}, s)
		var want []uint32
		wantOK := true
		trimmed := strings.TrimPrefix(s, ".")
		if trimmed == "" || len(trimmed) > 1024 {
			wantOK = false
		} else {
			for _, f := range strings.Split(trimmed, ".") {
				n, err := strconv.ParseUint(f, 10, 32)
				if err != nil || f[0] == '+' {
					wantOK = false
					break
				}
				want = append(want, uint32(n))
			}
		}
		if ok != wantOK || ok && !slices.Equal(got[1:], want) || got[0] != 7 {
			t.Errorf("parseOIDInto(%q) = %v, %v; want %v, %v", s, got, ok, want, wantOK)
		}
		if ok && formatOID(got[1:]) != "."+trimmed && !strings.Contains(trimmed, ".0") && !strings.HasPrefix(trimmed, "0") {
			t.Errorf("formatOID(parseOIDInto(%q)) = %q", s, formatOID(got[1:]))
		}
	})
}
