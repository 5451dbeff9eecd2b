package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/collector/internal/api"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
	"github.com/umbrasec/umbra/shared/wire"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func newServer(t *testing.T, db api.Store) *httptest.Server {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(&testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv := httptest.NewServer(api.New(db, logger, api.Options{
		MaxRequestBytes: 64 << 10,
		Now:             func() time.Time { return now },
		NoAuth:          true,
	}))
	t.Cleanup(srv.Close)
	return srv
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func validReport(id string) map[string]any {
	return map[string]any{
		"schema":        1,
		"id":            id,
		"kind":          "inventory",
		"agent_id":      "agent-1",
		"agent_version": "v0.1.0",
		"created_at":    now.Add(-time.Minute).Format(time.RFC3339),
		"inventory": map[string]any{
			"collected_at": now.Add(-time.Minute).Format(time.RFC3339),
			"full":         true,
			"host":         map[string]any{"host_id": "4c4c4544-0042", "hostname": "web-01"},
			"os":           map[string]any{"family": "linux", "platform": "debian", "version": "12", "kernel": "6.1.0", "arch": "x86_64"},
			"cpu":          map[string]any{"model": "Xeon", "cores": 4, "threads": 8},
			"memory":       map[string]any{"total_bytes": 8 << 30},
			"interfaces": []any{
				map[string]any{"name": "eth0", "mac": "00:11:22:aa:bb:cc", "addrs": []string{"192.0.2.7/24"}, "up": true},
			},
		},
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func post(t *testing.T, srv *httptest.Server, body []byte, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+wire.PathReports, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

func rows(t *testing.T, db *store.DB) uint64 {
	t.Helper()
	ctx := context.Background()
	var total uint64
	for _, tbl := range []string{"reports", "inventories", "host_interfaces"} {
		n, err := db.Count(ctx, "SELECT count() FROM "+tbl)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total
}

func TestPostReportStoresOnce(t *testing.T) {
	db := storetest.New(t)
	srv := newServer(t, db)
	body := mustJSON(t, validReport("rep-1"))

	for i, enc := range []string{"", "gzip"} {
		b := body
		h := map[string]string{}
		if enc == "gzip" {
			b = gz(t, body)
			h["Content-Encoding"] = "gzip"
		}
		a := post(t, srv, b, h)
		if a.status != http.StatusAccepted {
			t.Fatalf("POST #%d (%q) = %d %s, want 202", i+1, enc, a.status, a.body)
		}
		var acc wire.Accepted
		if err := json.Unmarshal(a.body, &acc); err != nil {
			t.Fatal(err)
		}
		if acc.ID != "rep-1" || acc.Duplicate != (i == 1) {
			t.Errorf("POST #%d = %+v, want id rep-1 duplicate=%v", i+1, acc, i == 1)
		}
	}

	resp, err := srv.Client().Get(srv.URL + adminapi.PathHosts)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list adminapi.HostList
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || len(list.Hosts) != 1 {
		t.Fatalf("GET hosts = %d %+v, want one host", resp.StatusCode, list)
	}
	h := list.Hosts[0]
	if h.Hostname != "web-01" || h.Reports != 1 || len(h.MACs) != 1 || h.MACs[0] != "00:11:22:aa:bb:cc" || len(h.Addresses) != 1 {
		t.Errorf("host = %+v, want web-01 with one report, one MAC, one address", h)
	}
}

func TestPostReportRefused(t *testing.T) {
	db := storetest.New(t)
	srv := newServer(t, db)

	wrongType := validReport("rep-2")
	wrongType["inventory"].(map[string]any)["cpu"] = map[string]any{"cores": "four"}
	missing := validReport("rep-3")
	delete(missing, "agent_id")
	inv := missing["inventory"].(map[string]any)
	inv["host"] = map[string]any{}
	delete(inv, "collected_at")
	big := validReport("rep-4")
	big["inventory"].(map[string]any)["host"].(map[string]any)["hostname"] = strings.Repeat("x", 100<<10)
	// A gzip bomb: under 64 KiB compressed, far over the 16 MiB decoded limit.
	bomb := gz(t, append([]byte(`{"schema":1,"id":"`), bytes.Repeat([]byte("a"), 20<<20)...))
	if len(bomb) > 64<<10 {
		t.Fatalf("bomb is %d bytes compressed", len(bomb))
	}
	valid := mustJSON(t, validReport("rep-5"))

	tests := []struct {
		name     string
		body     []byte
		header   map[string]string
		status   int
		contains []string
	}{
		{"bad json", []byte(`{"schema":1,`), nil, 400, []string{"JSON"}},
		{"not json at all", []byte(`hello`), nil, 400, []string{"malformed JSON"}},
		{"empty", nil, nil, 400, []string{"empty body"}},
		{"wrong types", mustJSON(t, wrongType), nil, 400, []string{"inventory.cpu.cores", "string"}},
		{"trailing data", append(append([]byte{}, valid...), []byte(`{}`)...), nil, 400, []string{"trailing"}},
		{"bad gzip", []byte("not gzip at all"), map[string]string{"Content-Encoding": "gzip"}, 400, []string{"gzip"}},
		{"truncated gzip", gz(t, valid)[:40], map[string]string{"Content-Encoding": "gzip"}, 400, nil},
		{"oversized body", mustJSON(t, big), nil, 413, []string{"larger than"}},
		{"gzip bomb", bomb, map[string]string{"Content-Encoding": "gzip"}, 413, []string{"too large"}},
		{"missing fields", mustJSON(t, missing), nil, 422, []string{"agent_id is missing", "inventory.collected_at is missing", "inventory.host.hostname is missing"}},
		{"wrong content type", valid, map[string]string{"Content-Type": "text/plain"}, 415, []string{"application/json"}},
		{"no content type", valid, map[string]string{"Content-Type": ""}, 415, nil},
		{"unknown encoding", valid, map[string]string{"Content-Encoding": "br"}, 415, []string{"br"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := post(t, srv, tt.body, tt.header)
			if a.status != tt.status {
				t.Fatalf("POST = %d %s, want %d", a.status, a.body, tt.status)
			}
			var p wire.Problem
			if err := json.Unmarshal(a.body, &p); err != nil || p.Error == "" {
				t.Fatalf("body %q is not a wire.Problem: %v", a.body, err)
			}
			all := p.Error + "\n" + strings.Join(p.Problems, "\n")
			for _, c := range tt.contains {
				if !strings.Contains(all, c) {
					t.Errorf("problem %q does not mention %q", all, c)
				}
			}
			if n := rows(t, db); n != 0 {
				t.Errorf("%d rows written for a refused report", n)
			}
		})
	}
}

func TestDatabaseDown(t *testing.T) {
	addr := storetest.Addr(t)
	db, err := store.Open(context.Background(), store.Config{Addr: addr, Database: "default"})
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, db)
	if resp, err := srv.Client().Get(srv.URL + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz with the database up = %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}
	db.Close() // from here on every call fails as if the server were gone

	a := post(t, srv, mustJSON(t, validReport("rep-down")), nil)
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
		t.Errorf("POST with the database down = %d (Retry-After %q) %s, want 503 with Retry-After", a.status, a.header.Get("Retry-After"), a.body)
	}
	for path, want := range map[string]int{"/readyz": 503, "/healthz": 200, adminapi.PathHosts: 503} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s with the database down = %d, want %d", path, resp.StatusCode, want)
		}
	}
}

type panicStore struct{ api.Store }

func (panicStore) ListHosts(context.Context) ([]store.Host, error) { panic("boom") }

func TestPanicIsA500(t *testing.T) {
	srv := newServer(t, panicStore{})
	resp, err := srv.Client().Get(srv.URL + adminapi.PathHosts)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("GET hosts on a panicking store = %d, want 500", resp.StatusCode)
	}
}

func TestRoutes(t *testing.T) {
	srv := newServer(t, panicStore{})
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/healthz", 200},
		{"GET", wire.PathReports, 405},
		{"POST", "/nope", 404},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
			}
		})
	}
}
