package state

import (
	"regexp"
	"strings"
	"testing"
)

// ace is one access control entry of an SDDL DACL: (type;flags;rights;;;sid).
var ace = regexp.MustCompile(`\(([A-Z]+);([A-Z]*);([A-Z]+);;;([A-Z]+|S-[0-9-]+)\)`)

func TestPrivateSDDL(t *testing.T) {
	for _, c := range []struct {
		dir   bool
		want  string
		flags string
	}{
		{false, "D:P(A;;FA;;;SY)(A;;FA;;;BA)", ""},
		{true, "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", "OICI"},
	} {
		got := privateSDDL(c.dir)
		if got != c.want {
			t.Errorf("privateSDDL(%v) = %q, want %q", c.dir, got, c.want)
		}
		// Read it as Windows would: a protected DACL, allow entries only,
		// full control, for SYSTEM and Administrators and nobody else.
		if !strings.HasPrefix(got, "D:P(") || strings.Contains(got, "AI") {
			t.Errorf("privateSDDL(%v) = %q: the DACL is not protected from inheritance", c.dir, got)
		}
		entries := ace.FindAllStringSubmatch(got, -1)
		if strings.Join(ace.FindAllString(got, -1), "") != strings.TrimPrefix(got, "D:P") {
			t.Errorf("privateSDDL(%v) = %q holds something besides its entries", c.dir, got)
		}
		sids := map[string]bool{}
		for _, e := range entries {
			if e[1] != "A" || e[2] != c.flags || e[3] != "FA" {
				t.Errorf("entry %s: want allow, flags %q, full access", e[0], c.flags)
			}
			sids[e[4]] = true
		}
		if len(entries) != 2 || !sids["SY"] || !sids["BA"] {
			t.Errorf("privateSDDL(%v) grants %v, want SYSTEM (SY) and Administrators (BA) only", c.dir, sids)
		}
	}
}
