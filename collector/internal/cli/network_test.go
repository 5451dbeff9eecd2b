package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
)

func TestNetworkTrust(t *testing.T) {
	var mu sync.Mutex
	var rules []adminapi.TrustedNetwork
	var requests []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		requests = append(requests, r.Method+" "+r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == adminapi.PathTrustedNetworks:
			var req adminapi.CreateTrustedNetwork
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				t.Errorf("add request: %v", err)
			}
			n := adminapi.TrustedNetwork{ID: "net-1", Kind: req.Kind, Value: req.Value, Note: req.Note, CreatedAt: time.Unix(1700000000, 0), CreatedBy: "admin:x"}
			rules = append(rules, n)
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(n)
		case r.Method == http.MethodGet && r.URL.Path == adminapi.PathTrustedNetworks:
			_ = json.NewEncoder(w).Encode(adminapi.TrustedNetworkList{Rules: rules})
		case r.Method == http.MethodDelete && r.URL.Path == adminapi.PathTrustedNetworks+"/net-1":
			rules = nil
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "no trusted network"})
		}
	}))
	defer srv.Close()
	env := map[string]string{"UMBRA_COLLECTOR": srv.URL, "UMBRA_TOKEN": "t"}
	getenv := func(k string) string { return env[k] }
	umbra := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb, getenv)
		return code, out.String(), errb.String()
	}

	// Bad input is refused before anything is sent.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"network"}, "Usage: umbra network trust"},
		{[]string{"network", "trust"}, "Usage: umbra network trust"},
		{[]string{"network", "trust", "add"}, "exactly one of"},
		{[]string{"network", "trust", "add", "--subnet", "198.18.1.0/24", "--dns-suffix", "corp.example"}, "exactly one of"},
		{[]string{"network", "trust", "add", "--subnet", "198.18.1.0"}, "want a prefix"},
		{[]string{"network", "trust", "add", "--subnet", "0.0.0.0/0"}, "would trust every network"},
		{[]string{"network", "trust", "add", "--gateway-mac", "not-a-mac"}, "want 6 bytes"},
		{[]string{"network", "trust", "remove"}, "wrong number of arguments"},
		{[]string{"network", "trust", "list", "extra"}, "wrong number of arguments"},
	} {
		code, _, stderr := umbra(c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("umbra %v = %d %q, want %d with %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
	if len(requests) != 0 {
		t.Fatalf("bad input sent %v", requests)
	}

	if code, out, _ := umbra("network", "trust", "list"); code != exitOK || !strings.Contains(out, "agents refuse every scan") {
		t.Errorf("list with no rules = %d %q", code, out)
	}
	if code, out, stderr := umbra("network", "trust", "add", "--dns-suffix", "corp.example", "--note", "HQ"); code != exitOK || !strings.Contains(out, "trusted network net-1: dns-suffix corp.example") {
		t.Errorf("add = %d %q %q", code, out, stderr)
	}
	code, out, _ := umbra("network", "trust", "list")
	if code != exitOK || !strings.Contains(out, "ID") || !strings.Contains(out, "net-1") || !strings.Contains(out, "corp.example") || !strings.Contains(out, "HQ") {
		t.Errorf("list = %d %q", code, out)
	}
	code, out, _ = umbra("network", "trust", "list", "--json")
	var list adminapi.TrustedNetworkList
	if code != exitOK || json.Unmarshal([]byte(out), &list) != nil || len(list.Rules) != 1 {
		t.Errorf("list --json = %d %q", code, out)
	}
	if code, out, _ := umbra("network", "trust", "remove", "net-1"); code != exitOK || !strings.Contains(out, "removed") {
		t.Errorf("remove = %d %q", code, out)
	}
	if code, _, stderr := umbra("network", "trust", "remove", "net-9"); code != exitError || !strings.Contains(stderr, "no trusted network") {
		t.Errorf("remove of a missing rule = %d %q", code, stderr)
	}
}

func TestHeartbeatCell(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	no := false
	for _, c := range []struct {
		p    *adminapi.Presence
		want string
	}{
		{nil, "never"},
		{&adminapi.Presence{At: now.Add(-3 * time.Minute)}, "2026-01-02 11:57 UTC (3m ago)"},
		{&adminapi.Presence{At: now.Add(-time.Hour * 30), SpoolRecords: 12, DroppedRecords: 2, Trusted: &no}, "2026-01-01 06:00 UTC (30h ago), 12 spooled, 2 dropped, untrusted network"},
	} {
		if got := heartbeatCell(c.p, now); got != c.want {
			t.Errorf("heartbeatCell(%+v) = %q, want %q", c.p, got, c.want)
		}
	}
}
