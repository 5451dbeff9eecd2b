//go:build !windows

package state

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestPrivateModes checks the real modes on Unix: a folder 0700 and files
// 0600 whatever the umask, also over a file that was world-readable.
func TestPrivateModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "a", "state")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := MkdirPrivate(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "credential.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WritePrivate(path, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := Restrict(cfg, false); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600, cfg: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	if b, _ := os.ReadFile(path); string(b) != "secret" {
		t.Errorf("WritePrivate wrote %q", b)
	}
	if err := Restrict(filepath.Join(dir, "missing"), false); err == nil {
		t.Error("Restrict of a missing file succeeded")
	}
	// No temporary file is left beside it.
	if m, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}
