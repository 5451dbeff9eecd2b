package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
)

// TestTokenSources checks where the token comes from: the config file or
// UMBRA_TOKEN, never a flag.
func TestTokenSources(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		switch {
		case r.Method == "POST" && r.URL.Path == adminapi.PathTokens:
			var req adminapi.CreateToken
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Role != "auditor" || req.TTLSeconds != 3600 {
				http.Error(w, `{"error":"bad request"}`, http.StatusUnprocessableEntity)
				return
			}
			w.WriteHeader(201)
			_ = json.NewEncoder(w).Encode(adminapi.Credential{ID: "0123456789abcdef", Name: req.Name, Secret: "umt_new"})
		case r.Method == "DELETE":
			w.WriteHeader(204)
		default:
			_ = json.NewEncoder(w).Encode(adminapi.AgentList{Agents: []adminapi.Agent{{AgentID: "a-1", Hostname: "pc\x1b[31m"}}})
		}
	}))
	defer srv.Close()

	cfgFile := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfgFile, []byte(`{"collector":"`+srv.URL+`","token":"umt_fromfile"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"UMBRA_CONFIG": cfgFile}
	if code, out, stderr := runCLI(t, env, "agent", "list"); code != 0 || !strings.Contains(out, `pc\x1b[31m`) {
		t.Errorf("agent list = %d %q %q", code, out, stderr)
	}
	env["UMBRA_TOKEN"] = "umt_fromenv"
	if code, out, stderr := runCLI(t, env, "token", "create", "--name", "sec", "--role", "auditor", "--ttl", "1h"); code != 0 || strings.TrimSpace(out) != "umt_new" {
		t.Errorf("token create = %d %q %q", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, env, "agent", "revoke", "a-1"); code != 0 {
		t.Errorf("agent revoke = %d %q", code, stderr)
	}
	if code, _, _ := runCLI(t, env, "hosts", "--token", "umt_flag"); code != exitUsage {
		t.Errorf("hosts --token = %d, want a usage error: there is no token flag", code)
	}
	if code, _, _ := runCLI(t, env, "token", "create", "--name", "x"); code != exitUsage {
		t.Errorf("token create without --role = %d, want a usage error", code)
	}
	want := []string{
		"GET /api/v1/agents Bearer umt_fromfile",
		"POST /api/v1/tokens Bearer umt_fromenv",
		"DELETE /api/v1/agents/a-1 Bearer umt_fromenv",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}
