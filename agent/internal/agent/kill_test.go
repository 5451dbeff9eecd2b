package agent

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKill9 builds the real agent, kills it with SIGKILL 20 times while the
// collector is down, then brings the collector up and starts it once more:
// the last report spooled before the kills must arrive, and no report the
// spool replaced may come back. It also reads the agent's idle RSS.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the agent binary")
	}
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("needs SIGKILL")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "umbra-agent")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/umbrasec/umbra/agent/cmd/umbra-agent")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	col, srv := newCollector(t)
	col.down.Store(true)
	stateDir := filepath.Join(dir, "state")
	cfgPath := filepath.Join(dir, "agent.yaml")
	writeConfig := func(extra string) {
		cfg := fmt.Sprintf("collector: %s\nstate_dir: %s\nheartbeat_interval: 1s\nretry_min: 50ms\nretry_max: 200ms\n%s",
			srv.URL, stateDir, extra)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	start := func(run int) (*exec.Cmd, string) {
		logPath := filepath.Join(dir, fmt.Sprintf("run-%02d.log", run))
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		defer logf.Close()
		cmd := exec.Command(bin, "run", "--config", cfgPath)
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

	writeConfig("inventory_interval: 50ms\nstart_delay: 0s\n")
	var spooled []string
	const kills = 20
	for run := range kills {
		cmd, logPath := start(run)
		want := 1 + rand.IntN(3)
		waitFor(t, fmt.Sprintf("run %d to spool %d reports", run, want), 30*time.Second, func() bool {
			return len(spooledIDs(readLog(logPath))) >= want
		})
		time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond) // kill at a random moment
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		log := readLog(logPath)
		if !strings.Contains(log, "torn_records_removed=0") {
			t.Errorf("run %d: the spool had torn records after kill -9:\n%s", run, firstLines(log, 3))
		}
		spooled = append(spooled, spooledIDs(log)...)
	}
	if n := len(col.ids()); n != 0 {
		t.Fatalf("collector down, but %d reports arrived", n)
	}

	// Up again, with no new inventory for an hour: only what the spool
	// holds is sent.
	col.down.Store(false)
	writeConfig("inventory_interval: 1h\nstart_delay: 1h\n")
	cmd, logPath := start(kills)
	last := spooled[len(spooled)-1]
	deadline := time.Now().Add(30 * time.Second)
	for col.ids()[last] == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the last spooled report %s never arrived; log of the last run:\n%s", last, firstLines(readLog(logPath), 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, "the spool to empty", 10*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(stateDir, "spool", "*.usp"))
		return len(m) == 0
	})
	if rss := vmRSS(cmd.Process.Pid); rss != "" {
		t.Logf("idle agent RSS: %s", rss)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("agent exited with %v after SIGTERM, want 0:\n%s", err, readLog(logPath))
	}
	got := col.ids()
	if len(got) != 1 {
		t.Errorf("collector got %d distinct reports %v, want only the last spooled one %s (the others were replaced)", len(got), got, last)
	}
	t.Logf("%d kill -9s, %d reports spooled while the collector was down; delivered %v", kills, len(spooled), got)
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// vmRSS reads a process's resident set size from /proc (Linux).
func vmRSS(pid int) string {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
