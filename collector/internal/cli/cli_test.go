package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
)

var seen = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

var fixture = adminapi.HostList{Hosts: []adminapi.Host{
	{
		AgentID: "agent-1", Hostname: "web-01", OSFamily: "linux", Platform: "debian", PlatformVersion: "12.5",
		Kernel: "6.1.0-18-amd64", CPUModel: "Xeon", CPUCores: 4, CPUThreads: 8, MemoryBytes: 16 << 30,
		MACs: []string{"00:11:22:aa:bb:cc"}, Addresses: []string{"192.0.2.7/24", "2001:db8::7/64"},
		LastSeen: seen, Reports: 3,
	},
	{
		AgentID: "agent-2", Hostname: "\x1b]0;pwned\x07\x1b[2Jevil\tname\n\u202egpj.exe\x9b31m",
		Platform: "\x1b[31mred", MACs: []string{}, Addresses: []string{}, LastSeen: seen,
	},
}}

func serve(t *testing.T, status int, body any) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != adminapi.PathHosts || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestHostsTable(t *testing.T) {
	url := serve(t, 200, fixture)
	code, out, stderr := runCLI(t, nil, "hosts", "--collector", url)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("table has %d lines, want 3:\n%s", len(lines), out)
	}
	for _, col := range []string{"HOSTNAME", "OS", "KERNEL", "CPU", "MEMORY", "ADDRESSES", "MACS", "LAST SEEN"} {
		if !strings.Contains(lines[0], col) {
			t.Errorf("header %q lacks %s", lines[0], col)
		}
	}
	for _, want := range []string{"web-01", "debian 12.5", "6.1.0-18-amd64", "4c/8t Xeon", "16.0 GiB", "192.0.2.7/24,2001:db8::7/64", "00:11:22:aa:bb:cc", "2024-05-01 12:00 UTC"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
	for _, r := range out {
		if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r < 0xa0 || r == '\u202e' {
			t.Errorf("output holds control character %U:\n%q", r, out)
		}
	}
	if !strings.Contains(lines[2], `\x1b]0;pwned\x07`) || !strings.Contains(lines[2], `\u202e`) {
		t.Errorf("hostile hostname not shown escaped: %q", lines[2])
	}
}

func TestHostsJSON(t *testing.T) {
	url := serve(t, 200, fixture)
	code, out, stderr := runCLI(t, map[string]string{"UMBRA_COLLECTOR": url}, "hosts", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var got adminapi.HostList
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	// JSON cannot carry invalid UTF-8: the stray \x9b arrives as U+FFFD.
	wantName := strings.ToValidUTF8(fixture.Hosts[1].Hostname, "\uFFFD")
	if len(got.Hosts) != 2 || got.Hosts[1].Hostname != wantName || got.Hosts[0].Reports != 3 {
		t.Errorf("--json = %+v, want the fixture", got)
	}
	if strings.ContainsRune(out, 0x1b) {
		t.Errorf("--json output holds a raw ESC: %q", out)
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain-host", "plain-host"},
		{"ホスト Ω", "ホスト Ω"},
		{"\x1b[2J", `\x1b[2J`},
		{"a\tb\nc\rd\x00", `a\x09b\x0ac\x0dd\x00`},
		{"\x7f", `\x7f`},
		{"\u009b31m", `\u009b31m`},
		{"\x9b31m", `\x9b31m`},
		{"\u202eexe.txt", `\u202eexe.txt`},
		{"\xff", `\xff`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := sanitize(tt.in); got != tt.want {
				t.Errorf("sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestUsageAndErrors(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	failing := serve(t, 503, map[string]string{"error": "the database is unavailable; retry later"})

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"no args", nil, 2, "", "Usage"},
		{"help", []string{"-h"}, 0, "Usage", ""},
		{"hosts help", []string{"hosts", "-h"}, 0, "", "--collector"},
		{"unknown command", []string{"frobnicate"}, 2, "", "unknown command"},
		{"bad flag", []string{"hosts", "--nope"}, 2, "", "flag provided but not defined"},
		{"extra args", []string{"hosts", "x"}, 2, "", "unexpected"},
		{"bad url", []string{"hosts", "--collector", "ftp://x"}, 2, "", "collector URL"},
		{"version", []string{"version"}, 0, "umbra ", ""},
		{"unreachable", []string{"hosts", "--collector", dead}, 1, "", "cannot reach the collector"},
		{"server error", []string{"hosts", "--collector", failing}, 1, "", "database is unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, nil, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("umbra %q = %d, stdout %q, stderr %q; want %d, %q, %q", tt.args, code, out, stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}
