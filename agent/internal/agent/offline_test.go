//go:build linux

package agent

import (
	"bytes"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/umbrasec/umbra/agent/internal/spool"
	"github.com/umbrasec/umbra/shared/wire"
)

// skipOrFail skips a test that needs a server, or fails it when CI is set,
// so that CI never goes green by skipping.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this fails instead of skipping)", why)
	}
	t.Skip(why)
}

// gate is a TCP proxy on loopback in front of the collector: while down it
// closes every connection it accepts, as an unreachable collector would
// look to the agent; up, it forwards to the collector.
type gate struct {
	ln       net.Listener
	target   string
	down     atomic.Bool
	refused  atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]bool
	shutdown bool
	once     sync.Once
}

func newGate(t *testing.T, target string) *gate {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, target: target, conns: map[net.Conn]bool{}}
	g.wg.Go(g.serve)
	t.Cleanup(g.close)
	return g
}

func (g *gate) serve() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		if g.down.Load() {
			g.refused.Add(1)
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", g.target)
		if err != nil {
			c.Close()
			continue
		}
		g.mu.Lock()
		if g.shutdown {
			g.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		g.conns[c], g.conns[up] = true, true
		g.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		g.wg.Go(func() { pipe(up, c) })
		g.wg.Go(func() { pipe(c, up) })
	}
}

// close stops the gate and cuts every connection through it; it may be
// called more than once.
func (g *gate) close() {
	g.once.Do(func() {
		g.ln.Close()
		g.mu.Lock()
		g.shutdown = true
		for c := range g.conns {
			c.Close()
		}
		g.mu.Unlock()
		g.wg.Wait()
	})
}

var (
	heartbeatFailedLine = regexp.MustCompile(`msg="heartbeat not delivered"`)
	inventorySpooled    = regexp.MustCompile(`msg="report spooled" [^\n]*kind=inventory`)
	deliveredAt         = regexp.MustCompile(`time=(\S+) level=INFO msg="report delivered"`)
)

// TestOffline72SimulatedHours is the agent's promise to a laptop that
// leaves the office: the real agent binary, built with the test clock
// (-tags umbra_testclock) and run at 7200 times real speed (72 hours in
// 36 seconds), keeps its schedules (delta inventory every simulated hour,
// full every 24, a heartbeat every 5 minutes) for 72 hours while the real
// collector (and ClickHouse) is unreachable, and is killed with SIGKILL
// 20 times on the way. Discovery reports wait in its spool meanwhile
// (written into the spool between runs, as scan jobs would have). When
// the collector comes back, every one of them must reach ClickHouse
// exactly once, with the newest inventory, within 5 minutes; no
// inventory a newer one replaced may arrive. Retries and timeouts keep
// real time (the agent's defaults: backoff from 5s to 2m). Back online, a
// scan the collector routes to it is refused (no trusted network) with
// the reason as the scan's error.
func TestOffline72SimulatedHours(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent and the collector and runs 72 simulated hours (about 2 minutes)")
	}
	chAddr := os.Getenv("UMBRA_TEST_CLICKHOUSE")
	if chAddr == "" {
		skipOrFail(t, "needs a ClickHouse: export UMBRA_TEST_CLICKHOUSE=$(scripts/clickhouse.sh start DIR)")
	}
	if _, err := exec.LookPath("clickhouse-client"); err != nil {
		skipOrFail(t, "needs clickhouse-client to read what the collector stored")
	}
	chHost, chPort, err := net.SplitHostPort(chAddr)
	if err != nil {
		t.Fatalf("UMBRA_TEST_CLICKHOUSE=%q: %v", chAddr, err)
	}
	var rnd [4]byte
	_, _ = crand.Read(rnd[:])
	database := "umbra_offline_" + hex.EncodeToString(rnd[:])
	clickhouse := func(query string) string {
		t.Helper()
		out, err := exec.Command("clickhouse-client", "--host", chHost, "--port", chPort, "--database", database, "--query", query).CombinedOutput()
		if err != nil {
			t.Fatalf("clickhouse-client %q: %v\n%s", query, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	t.Cleanup(func() {
		_ = exec.Command("clickhouse-client", "--host", chHost, "--port", chPort, "--query", "DROP DATABASE IF EXISTS "+database).Run()
	})

	dir := t.TempDir()
	bin := func(name string) string { return filepath.Join(dir, name) }
	phase := time.Now()
	lap := func(what string) {
		t.Logf("%-40s %s", what, time.Since(phase).Round(time.Millisecond))
		phase = time.Now()
	}
	for _, b := range []struct{ name, pkg, tags string }{
		{"umbra-agent", "github.com/umbrasec/umbra/agent/cmd/umbra-agent", "umbra_testclock"},
		{"umbra-collector", "github.com/umbrasec/umbra/collector/cmd/umbra-collector", ""},
		{"umbra", "github.com/umbrasec/umbra/collector/cmd/umbra", ""},
	} {
		args := []string{"build", "-o", bin(b.name)}
		if b.tags != "" {
			args = append(args, "-tags", b.tags)
		}
		if out, err := exec.CommandContext(t.Context(), "go", append(args, b.pkg)...).CombinedOutput(); err != nil {
			t.Fatalf("go build %s (the collector's packages come from the go.work workspace): %v\n%s", b.pkg, err, out)
		}
	}

	lap("built the agent and the collector")

	// The real collector, reached only through the gate.
	collState := filepath.Join(dir, "collector")
	addrFile := filepath.Join(dir, "collector.url")
	collArgs := []string{"--listen", "127.0.0.1:0", "--addr-file", addrFile, "--tls-names", "127.0.0.1",
		"--clickhouse", chAddr, "--database", database, "--state-dir", collState}
	var collLog syncBuffer
	// Scans may target loopback only: the refused scan below could not
	// reach anything else even if the agent's gate failed.
	coll := exec.Command(bin("umbra-collector"), append(collArgs, "--scan-allow", "127.0.0.1/32", "--scan-lease", "15s")...)
	coll.Stdout, coll.Stderr = &collLog, &collLog
	if err := coll.Start(); err != nil {
		t.Fatal(err)
	}
	collDone := make(chan struct{})
	go func() { coll.Wait(); close(collDone) }()
	var g *gate
	defer func() {
		if g != nil {
			g.close() // no connection through it holds the collector's shutdown
		}
		_ = coll.Process.Signal(syscall.SIGTERM)
		select {
		case <-collDone:
		case <-time.After(20 * time.Second):
			_ = coll.Process.Kill()
			<-collDone
		}
		if t.Failed() {
			t.Logf("collector log (last lines):\n%s", lastLines(collLog.String(), 40))
		}
	}()
	var collURL string
	waitFor(t, "the collector's address file", 60*time.Second, func() bool {
		b, err := os.ReadFile(addrFile)
		collURL = strings.TrimSpace(string(b))
		return err == nil && collURL != ""
	})
	g = newGate(t, strings.TrimPrefix(collURL, "https://"))
	url := "https://" + g.ln.Addr().String()
	fp, err := os.ReadFile(filepath.Join(collState, "ca.fingerprint"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(env []string, argv ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), env...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("%v: %v\n%s%s", argv, err, out.String(), errOut.String())
		}
		return out.String()
	}
	adminCfg := filepath.Join(dir, "admin.json")
	run(nil, append([]string{bin("umbra-collector"), "bootstrap-token", "--out", adminCfg}, collArgs...)...)
	umbra := func(args ...string) string {
		t.Helper()
		return run([]string{"UMBRA_CONFIG=" + adminCfg}, append([]string{bin("umbra")}, args...)...)
	}
	secret := strings.TrimSpace(umbra("enroll-secret", "create", "--name", "laptops", "--ttl", "1h"))
	stateDir := filepath.Join(dir, "state")
	run([]string{"UMBRA_ENROLL_SECRET=" + secret}, bin("umbra-agent"), "enroll", "--collector", url,
		"--ca-fingerprint", strings.TrimSpace(string(fp)), "--state-dir", stateDir)
	idb, err := os.ReadFile(filepath.Join(stateDir, "agent-id"))
	if err != nil {
		t.Fatal(err)
	}
	agentID := strings.TrimSpace(string(idb))

	lap("collector up, agent enrolled")
	cfgPath := filepath.Join(dir, "agent.yaml")
	// Every schedule at its default except delta inventories, on; the
	// test clock divides them by 7200. Retries and timeouts stay real.
	cfg := fmt.Sprintf("collector: %s\nstate_dir: %s\ndelta: true\nnice: 0\n", url, stateDir)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	const scale = 7200
	start := func(n int) (*exec.Cmd, string) {
		logPath := filepath.Join(dir, fmt.Sprintf("run-%02d.log", n))
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		defer logf.Close()
		cmd := exec.Command(bin("umbra-agent"), "run", "--config", cfgPath, "--log-level", "debug")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", ClockScaleEnv, scale))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, logPath
	}
	readLog := func(path string) string {
		b, _ := os.ReadFile(path)
		return string(b)
	}

	// Discovery reports go into the spool between runs, as if scan jobs
	// had spooled them: the spool is the agent's, and only one process
	// may hold it, so only while no agent runs.
	var discovery []string
	spoolDiscovery := func(n int) {
		t.Helper()
		sp, _, err := spool.Open(filepath.Join(stateDir, "spool"), spool.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		for range n {
			now := time.Now().UTC()
			rep := &wire.Report{Schema: wire.Schema, ID: uuid.NewString(), Kind: wire.KindDiscovery, AgentID: agentID,
				AgentVersion: "test", CreatedAt: now, Discovery: &wire.Discovery{StartedAt: now, FinishedAt: now,
					Targets: []string{"198.18.1.0/24"}, Observations: []wire.Observation{{ObservedAt: now, Observer: agentID,
						Method: wire.MethodICMP, IP: fmt.Sprintf("198.18.1.%d", 10+len(discovery)%200)}}}}
			if err := rep.Validate(wire.DefaultLimits, now); err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(rep)
			if _, err := sp.Put(spool.Discovery, "scan", b); err != nil {
				t.Fatal(err)
			}
			discovery = append(discovery, rep.ID)
		}
	}

	// 72 simulated hours offline: 20 runs killed with SIGKILL at random
	// moments, then a 21st still offline for the remaining time.
	g.down.Store(true)
	const kills = 20
	simulated := 72 * time.Hour
	perRun := simulated / scale / (kills + 1) // real time of each run
	began := time.Now()
	var logs []string
	for n := range kills {
		spoolDiscovery(1 + rand.IntN(5))
		cmd, logPath := start(n)
		// Kill n falls at a random moment within a third of a run of its
		// place on an even schedule, so that the runs add up to 72 hours.
		killAt := began.Add(time.Duration(n+1)*perRun - perRun/3 + rand.N(perRun*2/3))
		time.Sleep(time.Until(killAt))
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		log := readLog(logPath)
		logs = append(logs, log)
		if !strings.Contains(log, "torn_records_removed=0") {
			t.Errorf("run %d: torn spool records after kill -9:\n%s", n, firstLines(log, 3))
		}
	}
	spoolDiscovery(3)
	cmd, logPath := start(kills)
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	time.Sleep(max(0, simulated/scale-time.Since(began)))
	offline := time.Since(began)
	if n := clickhouse("SELECT count() FROM reports WHERE agent_id = '" + agentID + "'"); n != "0" {
		t.Fatalf("collector unreachable, but %s reports of the agent are stored", n)
	}

	lap("72 simulated hours offline")

	// The collector comes back.
	g.down.Store(false)
	returned := time.Now()
	missing := func() []string {
		got := map[string]bool{}
		for _, id := range strings.Fields(clickhouse("SELECT DISTINCT report_id FROM reports FINAL WHERE agent_id = '" + agentID + "' AND kind = 'discovery'")) {
			got[id] = true
		}
		var out []string
		for _, id := range discovery {
			if !got[id] {
				out = append(out, id)
			}
		}
		return out
	}
	deadline := returned.Add(5 * time.Minute)
	for len(missing()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d discovery reports not in ClickHouse 5 minutes after the collector came back; agent log:\n%s",
				len(missing()), len(discovery), lastLines(readLog(logPath), 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
	drain := time.Since(returned)
	lap("drained")
	firstDelivery := "none"
	for _, m := range deliveredAt.FindAllStringSubmatch(readLog(logPath), -1) {
		if at, err := time.Parse(time.RFC3339Nano, m[1]); err == nil && at.After(returned) {
			firstDelivery = at.Sub(returned).Round(time.Millisecond).String()
			break
		}
	}
	// The heartbeat tells the collector the spool is drained: at most the
	// newest inventory waits (a new one comes every simulated hour).
	var hbAt time.Time
	var hbSpool int64
	waitFor(t, "a heartbeat reporting a drained spool", time.Minute, func() bool {
		var list struct {
			Agents []struct {
				AgentID   string `json:"agent_id"`
				Heartbeat *struct {
					At           time.Time `json:"at"`
					SpoolRecords int64     `json:"spool_records"`
				} `json:"heartbeat"`
			} `json:"agents"`
		}
		if err := json.Unmarshal([]byte(umbra("agent", "list", "--json")), &list); err != nil {
			t.Fatal(err)
		}
		for _, a := range list.Agents {
			if a.AgentID == agentID && a.Heartbeat != nil && a.Heartbeat.SpoolRecords <= 1 && a.Heartbeat.At.After(returned.Add(-time.Second)) {
				hbAt, hbSpool = a.Heartbeat.At, a.Heartbeat.SpoolRecords
				return true
			}
		}
		return false
	})
	lap("heartbeat with a drained spool")

	// Back on the network, a scan routed to it is refused: the collector
	// trusts no network (and runs without --scan-trust-all-networks).
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(umbra("scan", "create", "127.0.0.1/32", "--agent", agentID, "--methods", "sweep", "--json")), &created); err != nil || created.ID == "" {
		t.Fatalf("umbra scan create: %v", err)
	}
	var scanned struct {
		State string `json:"state"`
		Error string `json:"error"`
	}
	waitFor(t, "the scan to end", time.Minute, func() bool {
		if err := json.Unmarshal([]byte(umbra("scan", "show", created.ID, "--json")), &scanned); err != nil {
			t.Fatal(err)
		}
		return scanned.State != "pending" && scanned.State != "running"
	})
	if scanned.State != "failed" || !strings.Contains(scanned.Error, "network not trusted: the collector lists no trusted networks") {
		t.Errorf("scan on an untrusted network ended %q (%s), want failed: network not trusted", scanned.State, scanned.Error)
	}
	if !strings.Contains(readLog(logPath), `msg="scan job refused"`) || strings.Contains(readLog(logPath), `msg="scan job started"`) {
		t.Errorf("the agent's log does not show the job refused before any scan:\n%s", lastLines(readLog(logPath), 20))
	}
	lap("scan refused on an untrusted network")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("agent exited with %v after SIGTERM, want 0", err)
	}
	lap("agent stopped")
	logs = append(logs, readLog(logPath))

	// Exactly once: FINAL collapses a report stored twice, so compare the
	// rows before and after it with the distinct ids.
	q := "FROM reports WHERE agent_id = '" + agentID + "' AND kind = 'discovery'"
	rows, final, distinct := clickhouse("SELECT count() "+q), clickhouse("SELECT count() FROM reports FINAL WHERE agent_id = '"+agentID+"' AND kind = 'discovery'"),
		clickhouse("SELECT uniqExact(report_id) "+q)
	if final != fmt.Sprint(len(discovery)) || distinct != final {
		t.Errorf("discovery reports in ClickHouse: %s rows, %s after FINAL, %s distinct; want %d of each", rows, final, distinct, len(discovery))
	}
	if rows != final {
		t.Logf("note: %s rows before FINAL: a report was delivered twice (retried after a lost answer) and stored once", rows)
	}
	if dup := clickhouse("SELECT count() FROM (SELECT report_id FROM inventories FINAL WHERE agent_id = '" + agentID + "' GROUP BY report_id HAVING count() > 1)"); dup != "0" {
		t.Errorf("%s inventories stored twice", dup)
	}
	// No inventory that a newer one replaced while offline comes back:
	// every inventory stored was spooled by the last run (after the
	// return) or was the one the spool held.
	allOffline := map[string]bool{}
	for _, l := range logs[:kills] {
		for _, id := range spooledIDs(l) {
			allOffline[id] = true
		}
	}
	lastRun := map[string]bool{}
	for _, id := range spooledIDs(logs[kills]) {
		lastRun[id] = true
	}
	stale := 0
	for _, id := range strings.Fields(clickhouse("SELECT DISTINCT report_id FROM inventories FINAL WHERE agent_id = '" + agentID + "'")) {
		if allOffline[id] && !lastRun[id] {
			stale++
		}
	}
	if stale > 1 {
		t.Errorf("%d inventories spooled during the outage were delivered; at most the newest one may be", stale)
	}
	if n := clickhouse("SELECT count() FROM inventories FINAL WHERE agent_id = '" + agentID + "'"); n == "0" {
		t.Error("no inventory arrived")
	}

	// The schedules ran as over 72 hours: a heartbeat every ~5 minutes
	// and a delta inventory every ~hour, the collector unreachable.
	all := strings.Join(logs, "\n")
	beats, invs := len(heartbeatFailedLine.FindAllString(all, -1)), len(inventorySpooled.FindAllString(all, -1))
	if beats < 500 || invs < 60 {
		t.Errorf("over 72 simulated hours: %d failed heartbeats (want about 864) and %d inventories spooled (want about 72+)", beats, invs)
	}
	t.Logf("offline %s real (= %s simulated at x%d), %d kill -9s, %d heartbeats and %d inventories attempted offline, %d connections refused",
		offline.Round(time.Millisecond), (offline * scale).Round(time.Minute), scale, kills, beats, invs, g.refused.Load())
	t.Logf("collector back: first report delivered after %s (the agent's backoff), %d discovery reports drained in %s (bound 5m); ClickHouse rows %s, FINAL %s, distinct %s; heartbeat at %s with %d spooled",
		firstDelivery, len(discovery), drain.Round(time.Millisecond), rows, final, distinct, hbAt.Format(time.RFC3339), hbSpool)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
