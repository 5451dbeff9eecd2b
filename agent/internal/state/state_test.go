package state

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/umbrasec/umbra/shared/wire"
)

func TestDefaultDir(t *testing.T) {
	env := map[string]string{"ProgramData": `D:\ProgramData`}
	tests := []struct {
		goos   string
		getenv func(string) string
		want   string
	}{
		{"linux", os.Getenv, "/var/lib/umbra-agent"},
		{"freebsd", os.Getenv, "/var/lib/umbra-agent"},
		{"darwin", os.Getenv, "/Library/Application Support/Umbra/agent"},
		{"windows", func(k string) string { return env[k] }, `D:\ProgramData\Umbra\agent`},
		{"windows", func(string) string { return "" }, `C:\ProgramData\Umbra\agent`},
	}
	for _, tt := range tests {
		if got := defaultDir(tt.goos, tt.getenv); got != tt.want {
			t.Errorf("defaultDir(%q) = %q, want %q", tt.goos, got, tt.want)
		}
	}
}

func TestAgentIDMadeOnceAndKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "agent")
	id, err := AgentID(dir)
	if err != nil {
		t.Fatalf("AgentID(new dir): %v", err)
	}
	if err := wire.CheckID(id); err != nil || len(id) != 36 {
		t.Errorf("AgentID(new dir) = %q (%v), want a UUID", id, err)
	}
	again, err := AgentID(dir)
	if err != nil || again != id {
		t.Errorf("AgentID(again) = %q, %v, want %q", again, err, id)
	}
	if runtime.GOOS != "windows" {
		for path, want := range map[string]fs.FileMode{dir: 0o700, filepath.Join(dir, "agent-id"): 0o600} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != want {
				t.Errorf("mode of %s = %o, want %o", path, got, want)
			}
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state folder holds %d entries, want only agent-id (no temporary files)", len(entries))
	}
}

func TestAgentIDConcurrentFirstUse(t *testing.T) {
	dir := t.TempDir()
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			id, err := AgentID(dir)
			if err != nil {
				t.Errorf("AgentID: %v", err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent first use gave ids %q, want one id", ids)
		}
	}
}

func TestAgentIDCorruptFile(t *testing.T) {
	for _, content := range []string{"", "\n", "not an id!\n", strings.Repeat("a", 200), "\x00\x01"} {
		dir := t.TempDir()
		path := filepath.Join(dir, "agent-id")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := AgentID(dir)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("AgentID(file holding %q) error = %v, want an error naming %s", content, err, path)
		}
		if b, _ := os.ReadFile(path); string(b) != content {
			t.Errorf("AgentID(file holding %q) rewrote it to %q", content, b)
		}
	}
}

func TestAgentIDUnwritableDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := AgentID(filepath.Join(file, "sub")); err == nil {
		t.Errorf("AgentID(under a file) = nil error, want one")
	}
}
