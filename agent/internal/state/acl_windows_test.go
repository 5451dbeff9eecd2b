//go:build windows

package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRestrictWindows reads back the DACL Windows stored.
func TestRestrictWindows(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := MkdirPrivate(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "enrollment.json")
	if err := WritePrivate(path, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{dir: privateSDDL(true), path: privateSDDL(false)} {
		got, err := daclSDDL(p)
		if err != nil {
			t.Fatal(err)
		}
		// Windows may add the auto-inherited flag (D:PAI); the entries
		// must be exactly ours.
		if !strings.HasPrefix(got, "D:P") {
			t.Errorf("%s: DACL %q is not protected, want %q", p, got, want)
		}
		var gotSIDs, wantSIDs []string
		for _, e := range ace.FindAllStringSubmatch(got, -1) {
			gotSIDs = append(gotSIDs, e[1]+" "+e[3]+" "+e[4])
		}
		for _, e := range ace.FindAllStringSubmatch(want, -1) {
			wantSIDs = append(wantSIDs, e[1]+" "+e[3]+" "+e[4])
		}
		if strings.Join(gotSIDs, ",") != strings.Join(wantSIDs, ",") {
			t.Errorf("%s: DACL %q, want %q", p, got, want)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}
