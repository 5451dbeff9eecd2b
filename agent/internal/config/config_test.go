package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	cfg, err := parseValid([]byte(`
collector: https://collector.example:8443
state_dir: /var/lib/umbra-agent
inventory_interval: 12h
heartbeat_interval: 90s
jitter: 0.2
spool_max_bytes: 32MiB
memory_limit: 100000000
`))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	want := Default()
	want.Collector = "https://collector.example:8443"
	want.StateDir = "/var/lib/umbra-agent"
	want.InventoryInterval = 12 * time.Hour
	want.HeartbeatInterval = 90 * time.Second
	want.Jitter = 0.2
	want.SpoolMaxBytes = 32 << 20
	want.MemoryLimit = 100000000
	if cfg != want {
		t.Errorf("Parse = %+v\nwant %+v", cfg, want)
	}
}

func TestParseJSON(t *testing.T) {
	cfg, err := parseValid([]byte(`{"collector": "http://127.0.0.1:8080", "retry_max": "10m"}`))
	if err != nil || cfg.Collector != "http://127.0.0.1:8080" || cfg.RetryMax != 10*time.Minute {
		t.Errorf("Parse(JSON) = %+v, %v", cfg, err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"collector: http://x\nbogus: 1\n", []string{"field bogus not found"}},
		{"collector: http://x\nspool_max_bytes: lots\n", []string{`"lots" is not a size`}},
		{"collector: http://x\ninventory_interval: daily\n", []string{"line 2", "daily"}},
		{"collector: http://x\n---\ncollector: http://y\n", []string{"more than one YAML document"}},
		// Every problem at once.
		{"collector: ftp://x\nstate_dir: ''\njitter: 2\nheartbeat_interval: 0s\nretry_min: 1m\nretry_max: 1s\nspool_max_bytes: 1KiB\nnice: 40\n",
			[]string{"want http:// or https://", "state_dir: missing", "jitter: 2 is outside", "heartbeat_interval: 0s is shorter",
				"retry_max: 1s is shorter than retry_min", "spool_max_bytes: 1KiB is less than 1MiB", "nice: 40"}},
		{"", []string{"collector: missing"}},
	}
	for _, tt := range tests {
		_, err := parseValid([]byte(tt.in))
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("Parse(%q) = %v, want an error with %q", tt.in, err, w)
			}
		}
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte("collector: http://127.0.0.1:1\nnice: 99\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err == nil {
		err = cfg.Validate()
	}
	if err == nil || !strings.Contains(err.Error(), "nice") {
		t.Errorf("Load = %v, want an error naming the file and the problem", err)
	}
	if _, err := Load(path + ".missing"); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func TestDefaultPath(t *testing.T) {
	env := func(k string) string {
		if k == "ProgramData" {
			return `D:\PD`
		}
		return ""
	}
	for goos, want := range map[string]string{
		"linux":   "/etc/umbra/agent.yaml",
		"windows": `D:\PD\Umbra\agent.yaml`,
		"darwin":  "/Library/Application Support/Umbra/agent.yaml",
	} {
		if got := defaultPath(goos, env); got != want {
			t.Errorf("defaultPath(%q) = %q, want %q", goos, got, want)
		}
	}
}

func TestBytes(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Bytes
		str  string
	}{
		{"1048576", 1 << 20, "1MiB"}, {"64MiB", 64 << 20, "64MiB"}, {"512 KiB", 512 << 10, "512KiB"},
		{"2GiB", 2 << 30, "2GiB"}, {"10MB", 10e6, "10000000B"}, {"1536", 1536, "1536B"},
	} {
		got, err := ParseBytes(tt.in)
		if err != nil || got != tt.want || got.String() != tt.str {
			t.Errorf("ParseBytes(%q) = %v (%s), %v; want %d (%s)", tt.in, int64(got), got, err, tt.want, tt.str)
		}
	}
	for _, bad := range []string{"", "-1", "1TB", "MiB", "99999999999GiB"} {
		if _, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) succeeded", bad)
		}
	}
}

func parseValid(b []byte) (Config, error) {
	cfg, err := Parse(b)
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func TestLoadNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte("colector: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "colector") {
		t.Errorf("Load = %v, want an error naming the file and the key", err)
	}
}
