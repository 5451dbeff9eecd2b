package server_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/collector/internal/config"
	"github.com/umbrasec/umbra/collector/internal/pki"
	"github.com/umbrasec/umbra/collector/internal/server"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
	"github.com/umbrasec/umbra/shared/wire"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// waitForFile polls for path with a deadline and returns its contents.
func waitForFile(t *testing.T, path string, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b))
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned before listening: %v", err)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within 30s", path)
		}
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	addr := storetest.Addr(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	dbName := "umbra_test_srv_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx := context.Background()
		db, err := store.Open(ctx, store.Config{Addr: addr, Database: dbName})
		if err == nil {
			_ = db.DropDatabase(ctx)
			db.Close()
		}
	})
	addrFile := filepath.Join(t.TempDir(), "collector.url")
	stateDir := t.TempDir()
	cfg := config.Config{
		Listen:          "127.0.0.1:0",
		AddrFile:        addrFile,
		Store:           store.Config{Addr: addr, Database: dbName},
		ShutdownTimeout: 5 * time.Second,
		StateDir:        stateDir,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))) }()

	url := waitForFile(t, addrFile, done)
	if !strings.HasPrefix(url, "https://127.0.0.1:") || strings.HasSuffix(url, ":0") {
		t.Fatalf("address file holds %q", url)
	}
	// Plain HTTPS without the collector's CA fails; with it, it works.
	if resp, err := http.Get(url + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("GET /healthz trusted the collector's certificate without its CA")
	}
	ca, err := pki.LoadCA(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := os.ReadFile(filepath.Join(stateDir, server.FingerprintFile))
	if err != nil || strings.TrimSpace(string(fp)) != pki.Fingerprint(ca) {
		t.Fatalf("%s holds %q, %v; want %s", server.FingerprintFile, fp, err, pki.Fingerprint(ca))
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	// The first admin comes from bootstrap-token on the collector host.
	bcfg := cfg
	bcfg.Command, bcfg.BootstrapOut, bcfg.BootstrapName = config.CommandBootstrapToken, filepath.Join(stateDir, "admin.json"), "first"
	var bout strings.Builder
	if err := server.Bootstrap(ctx, bcfg, &bout); err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	if fi, err := os.Stat(bcfg.BootstrapOut); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin config %v, %v; want mode 0600", fi, err)
	}
	var cc adminapi.ClientConfig
	if b, err := os.ReadFile(bcfg.BootstrapOut); err != nil || json.Unmarshal(b, &cc) != nil || !strings.HasPrefix(cc.Token, "umt_") {
		t.Fatalf("admin config %+v, %v", cc, err)
	}
	call := func(method, path, token string, in, out any) int {
		t.Helper()
		var body io.Reader
		if in != nil {
			b, _ := json.Marshal(in)
			body = strings.NewReader(string(b))
		}
		req, _ := http.NewRequest(method, url+path, body)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			_ = json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	var secret adminapi.Credential
	if code := call("POST", adminapi.PathEnrollSecrets, cc.Token, adminapi.CreateEnrollSecret{Name: "test", TTLSeconds: 3600}, &secret); code != 201 {
		t.Fatalf("POST enroll-secrets = %d", code)
	}
	var enrolled adminapi.EnrollResponse
	if code := call("POST", adminapi.PathEnroll, secret.Secret, adminapi.EnrollRequest{Hostname: "srv-host", HostID: "hid-1"}, &enrolled); code != 200 {
		t.Fatalf("POST enroll = %d", code)
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := hc.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d", path, resp.StatusCode)
		}
	}
	rep := map[string]any{
		"schema": 1, "id": "srv-1", "kind": "inventory", "agent_id": enrolled.AgentID, "agent_version": "dev",
		"created_at": time.Now().UTC().Format(time.RFC3339),
		"inventory": map[string]any{
			"collected_at": time.Now().UTC().Format(time.RFC3339),
			"host":         map[string]any{"hostname": "srv-host"},
			"os":           map[string]any{"family": "linux", "platform": "debian"},
			"memory":       map[string]any{"total_bytes": 1},
		},
	}
	if code := call("POST", wire.PathReports, enrolled.Credential, rep, nil); code != http.StatusAccepted {
		t.Fatalf("POST report = %d", code)
	}
	var list adminapi.HostList
	if code := call("GET", adminapi.PathHosts, cc.Token, nil, &list); code != 200 || len(list.Hosts) != 1 || list.Hosts[0].Hostname != "srv-host" {
		t.Fatalf("GET hosts = %d %+v", code, list)
	}
	var metrics strings.Builder
	req, _ := http.NewRequest("GET", url+adminapi.PathMetrics, nil)
	req.Header.Set("Authorization", "Bearer "+cc.Token)
	if resp, err := hc.Do(req); err != nil {
		t.Fatal(err)
	} else {
		_, _ = io.Copy(&metrics, resp.Body)
		resp.Body.Close()
	}
	for _, want := range []string{`umbra_ingest_reports_total{outcome="stored"} 1`, `umbra_ingest_inserts_total{table="reports"} 1`, "go_goroutines"} {
		if !strings.Contains(metrics.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of cancel")
	}
	if _, err := os.Stat(addrFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("address file left behind: %v", err)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	err := server.Run(context.Background(), config.Config{Listen: "x", Store: store.Config{Database: "1bad"}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "database name") || !strings.Contains(err.Error(), "listen address") {
		t.Errorf("Run with a bad config = %v", err)
	}
}
