// Package e2e runs the real binaries end to end: umbra-collector against a
// real ClickHouse, umbra-agent inventorying this host and reporting to it,
// and the umbra CLI reading the result back.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

	// The collector, on a free loopback port, with its own CA.
	addrFile := filepath.Join(t.TempDir(), "url")
	collState := t.TempDir()
	var logs syncBuffer
	collArgs := []string{"--listen", "127.0.0.1:0", "--addr-file", addrFile,
		"--clickhouse", addr, "--database", db.Database(), "--state-dir", collState}
	coll := exec.Command(filepath.Join(bin, "umbra-collector"), collArgs...)
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
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("the collector serves %s, want https", url)
	}
	fpBytes, err := os.ReadFile(filepath.Join(collState, "ca.fingerprint"))
	if err != nil {
		t.Fatal(err)
	}
	fingerprint := strings.TrimSpace(string(fpBytes))
	if !strings.Contains(logs.String(), fingerprint) {
		t.Errorf("the collector's log does not show the CA fingerprint %s", fingerprint)
	}
	caPEM, err := os.ReadFile(filepath.Join(collState, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	waitFor(t, "/readyz", 30*time.Second, func() bool {
		resp, err := hc.Get(url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	runEnv := func(env []string, name string, args ...string) (string, string, error) {
		t.Helper()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
		cmd.Env = append(os.Environ(), env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	adminCfg := filepath.Join(collState, "admin.json")
	cliEnv := []string{"UMBRA_CONFIG=" + adminCfg}
	run := func(name string, args ...string) string {
		t.Helper()
		out, stderr, err := runEnv(cliEnv, name, args...)
		if err != nil {
			t.Fatalf("%s %v: %v\n%s%s", name, args, err, out, stderr)
		}
		return out
	}

	// The first admin token, made on the collector host.
	run("umbra-collector", append([]string{"bootstrap-token", "--out", adminCfg}, collArgs...)...)
	// Without a token the CLI is refused.
	if _, stderr, err := runEnv([]string{"UMBRA_COLLECTOR=" + url, "UMBRA_CA_FILE=" + filepath.Join(collState, "ca.pem")}, "umbra", "hosts"); err == nil || !strings.Contains(stderr, "401") {
		t.Errorf("umbra hosts without a token: %v %s, want a 401", err, stderr)
	}
	secret := strings.TrimSpace(run("umbra", "enroll-secret", "create", "--name", "e2e", "--ttl", "1h"))
	if !strings.HasPrefix(secret, "ume_") {
		t.Fatalf("umbra enroll-secret create printed %q", secret)
	}
	if list := run("umbra", "enroll-secret", "list"); !strings.Contains(list, "e2e") || !strings.Contains(list, "active") {
		t.Errorf("umbra enroll-secret list:\n%s", list)
	}

	// The agent enrols, pinning the CA, then inventories this host twice.
	state := t.TempDir()
	enrollArgs := []string{"enroll", "--collector", url, "--ca-fingerprint", fingerprint, "--state-dir", state}
	if _, stderr, err := runEnv([]string{"UMBRA_ENROLL_SECRET=" + secret}, "umbra-agent", "enroll", "--collector", url,
		"--ca-fingerprint", "sha256:"+strings.Repeat("0", 64), "--state-dir", t.TempDir()); err == nil || !strings.Contains(stderr, "fingerprint") {
		t.Errorf("enrolment with a wrong CA fingerprint: %v %s, want refused", err, stderr)
	}
	if out, stderr, err := runEnv([]string{"UMBRA_ENROLL_SECRET=" + secret}, "umbra-agent", enrollArgs...); err != nil || !strings.Contains(out, "enrolled") {
		t.Fatalf("umbra-agent enroll: %v\n%s%s", err, out, stderr)
	}
	for _, f := range []string{"enrollment.json", "collector-ca.pem"} {
		if fi, err := os.Stat(filepath.Join(state, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", f, fi, err)
		}
	}
	for range 2 {
		if out := run("umbra-agent", "run", "--once", "--collector", url, "--state-dir", state); !strings.Contains(out, "sent inventory report") {
			t.Fatalf("umbra-agent run --once printed %q", out)
		}
	}
	// Enrolling again (a reinstall keeping the machine) makes no second host.
	if out, stderr, err := runEnv([]string{"UMBRA_ENROLL_SECRET=" + secret}, "umbra-agent", enrollArgs...); err != nil || !strings.Contains(out, "again") {
		t.Fatalf("umbra-agent enroll again: %v\n%s%s", err, out, stderr)
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
	if agents := run("umbra", "agent", "list"); strings.Count(agents, strings.TrimSpace(string(agentID))) != 1 {
		t.Errorf("umbra agent list does not show the agent once:\n%s", agents)
	}

	// A malformed report, even with the agent's credential, is refused
	// with a 4xx and writes nothing.
	var enr struct {
		Credential string `json:"credential"`
	}
	if b, err := os.ReadFile(filepath.Join(state, "enrollment.json")); err != nil || json.Unmarshal(b, &enr) != nil {
		t.Fatalf("enrollment.json: %v", err)
	}
	for _, body := range []string{`{"schema":1,`, `{"schema":"x"}`, `{"schema":1,"id":"x","kind":"inventory"}`} {
		req, _ := http.NewRequest("POST", url+"/api/v1/reports", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+enr.Credential)
		resp, err := hc.Do(req)
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

	// A revoked agent is refused at once and told to enrol again.
	run("umbra", "agent", "revoke", strings.TrimSpace(string(agentID)))
	if out, stderr, err := runEnv(nil, "umbra-agent", "run", "--once", "--collector", url, "--state-dir", state); err == nil || !strings.Contains(stderr, "enrolled again") {
		t.Errorf("a revoked agent's run --once: %v\n%s%s; want refused, asking to enrol again", err, out, stderr)
	}
	if audit := run("umbra", "audit"); !strings.Contains(audit, "agent.revoke") || !strings.Contains(audit, "agent.enroll") {
		t.Errorf("umbra audit lacks the enrolment and the revocation:\n%s", audit)
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

// syncBuffer is a bytes.Buffer that the collector's output goroutine and
// the test may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
