package server_test

import (
	"context"
	"crypto/rand"
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
	cfg := config.Config{
		Listen:          "127.0.0.1:0",
		AddrFile:        addrFile,
		Store:           store.Config{Addr: addr, Database: dbName},
		ShutdownTimeout: 5 * time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))) }()

	url := waitForFile(t, addrFile, done)
	if !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0") {
		t.Fatalf("address file holds %q", url)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d", path, resp.StatusCode)
		}
	}
	rep := map[string]any{
		"schema": 1, "id": "srv-1", "kind": "inventory", "agent_id": "agent-srv", "agent_version": "dev",
		"created_at": time.Now().UTC().Format(time.RFC3339),
		"inventory": map[string]any{
			"collected_at": time.Now().UTC().Format(time.RFC3339),
			"host":         map[string]any{"hostname": "srv-host"},
			"os":           map[string]any{"family": "linux", "platform": "debian"},
			"memory":       map[string]any{"total_bytes": 1},
		},
	}
	body, _ := json.Marshal(rep)
	resp, err := http.Post(url+wire.PathReports, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST report = %d", resp.StatusCode)
	}
	resp, err = http.Get(url + adminapi.PathHosts)
	if err != nil {
		t.Fatal(err)
	}
	var list adminapi.HostList
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || len(list.Hosts) != 1 || list.Hosts[0].Hostname != "srv-host" {
		t.Fatalf("GET hosts = %+v, %v", list, err)
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
