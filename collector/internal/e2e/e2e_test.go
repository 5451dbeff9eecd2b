// Package e2e runs the real binaries end to end: umbra-collector against a
// real ClickHouse, umbra-agent inventorying this host and reporting to it,
// and the umbra CLI reading the result back.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// build compiles the three binaries into dir.
func build(t *testing.T, dir string) {
	t.Helper()
	root, err := storetest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct{ module, pkg string }{
		{"agent", "./cmd/umbra-agent"},
		{"collector", "./cmd/umbra-collector"},
		{"collector", "./cmd/umbra"},
	} {
		cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), b.pkg)
		cmd.Dir = filepath.Join(root, b.module)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", b.pkg, err, out)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAgentToClickHouseToCLI(t *testing.T) {
	if testing.Short() && os.Getenv(storetest.EnvAddr) == "" && os.Getenv("CI") == "" {
		t.Skip("end-to-end test skipped in -short mode")
	}
	db := storetest.NewEmpty(t) // a fresh database name, dropped afterwards
	addr := storetest.Addr(t)
	bin := t.TempDir()
	build(t, bin)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The collector, on a free loopback port.
	addrFile := filepath.Join(t.TempDir(), "url")
	var logs bytes.Buffer
	coll := exec.Command(filepath.Join(bin, "umbra-collector"),
		"--listen", "127.0.0.1:0", "--addr-file", addrFile,
		"--clickhouse", addr, "--database", db.Database())
	coll.Stdout, coll.Stderr = &logs, &logs
	if err := coll.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- coll.Wait() }()
	defer func() {
		if coll.ProcessState == nil {
			_ = coll.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("collector log:\n%s", logs.String())
		}
	}()
	var url string
	waitFor(t, "the collector's address file", 30*time.Second, func() bool {
		b, err := os.ReadFile(addrFile)
		url = strings.TrimSpace(string(b))
		return err == nil && url != ""
	})
	waitFor(t, "/readyz", 30*time.Second, func() bool {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
		cmd.Env = append(os.Environ(), "UMBRA_COLLECTOR="+url)
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("%s %v: %v\n%s%s", name, args, err, out, ee.Stderr)
			}
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return string(out)
	}

	// The agent inventories this host twice, as the same agent.
	state := t.TempDir()
	for range 2 {
		if out := run("umbra-agent", "run", "--once", "--collector", url, "--state-dir", state); !strings.Contains(out, "sent inventory report") {
			t.Fatalf("umbra-agent run --once printed %q", out)
		}
	}
	agentID, err := os.ReadFile(filepath.Join(state, "agent-id"))
	if err != nil {
		t.Fatal(err)
	}
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}

	var list adminapi.HostList
	if err := json.Unmarshal([]byte(run("umbra", "hosts", "--json")), &list); err != nil {
		t.Fatalf("umbra hosts --json: %v", err)
	}
	if len(list.Hosts) != 1 {
		t.Fatalf("umbra hosts --json lists %d hosts, want 1: %+v", len(list.Hosts), list.Hosts)
	}
	h := list.Hosts[0]
	if h.AgentID != strings.TrimSpace(string(agentID)) || h.Hostname != hostname || h.Reports != 2 {
		t.Errorf("host = agent %q, hostname %q, %d reports; want %q, %q, 2", h.AgentID, h.Hostname, h.Reports, agentID, hostname)
	}
	if h.MemoryBytes == 0 || h.Kernel == "" || len(h.Addresses) == 0 {
		t.Errorf("host lacks inventory: memory %d, kernel %q, addresses %v", h.MemoryBytes, h.Kernel, h.Addresses)
	}
	if table := run("umbra", "hosts"); !strings.Contains(table, "HOSTNAME") || !strings.Contains(table, hostname) {
		t.Errorf("umbra hosts table does not show %q:\n%s", hostname, table)
	}

	// A malformed report is refused with a 4xx and writes nothing.
	for _, body := range []string{`{"schema":1,`, `{"schema":"x"}`, `{"schema":1,"id":"x","kind":"inventory"}`} {
		resp, err := http.Post(url+"/api/v1/reports", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode > 499 {
			t.Errorf("POST %q = %d, want 4xx", body, resp.StatusCode)
		}
	}
	if err := json.Unmarshal([]byte(run("umbra", "hosts", "--json")), &list); err != nil || len(list.Hosts) != 1 || list.Hosts[0].Reports != 2 {
		t.Errorf("after malformed reports: %v, %+v; want the one host with 2 reports", err, list.Hosts)
	}

	// SIGTERM stops the collector promptly and cleanly.
	if err := coll.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("collector exited with %v after SIGTERM", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("collector still running 20s after SIGTERM")
	}
}
