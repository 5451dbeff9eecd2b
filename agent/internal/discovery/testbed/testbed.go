// Package testbed runs tests on the simulated office network that
// scripts/testnet.sh builds from network namespaces (DESIGN.md §7).
//
// A test calls Up, then RunInScanner, which re-runs the same test binary
// inside the scanner namespace — a namespace whose only interface is on
// the test bridge and which has no default route — so that every packet
// the code under test sends stays inside the test network. The child side
// calls Child to get the network's description and checks its isolation
// before anything is sent.
package testbed

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Host is one device of the test network.
type Host struct {
	Name     string          `json:"name"`
	Netns    string          `json:"netns"`
	Role     string          `json:"role"`
	IP       string          `json:"ip"`
	MAC      string          `json:"mac"`
	IPs      []string        `json:"ips"`
	MACs     []string        `json:"macs"`
	Kind     string          `json:"kind"`
	MACLocal bool            `json:"mac_local"`
	ICMP     *bool           `json:"icmp"`
	TCP      []int           `json:"tcp"`
	MDNS     []string        `json:"mdns"`
	Subnet   string          `json:"subnet"`
	SNMP     json.RawMessage `json:"snmp"`
	SysOID   string          `json:"sys_object_id"`
	SysName  string          `json:"sys_name"`
}

// SNMPCred is a host's SNMP credential in the description.
type SNMPCred struct {
	Version   string `json:"version"`
	Community string `json:"community"`
	User      string `json:"user"`
	Auth      string `json:"auth"`
	AuthPass  string `json:"auth_pass"`
	Priv      string `json:"priv"`
	PrivPass  string `json:"priv_pass"`
}

// Net describes a running test network.
type Net struct {
	Name    string   `json:"name"`
	ID      string   `json:"id"`
	Scanner string   `json:"scanner"`
	Subnets []string `json:"subnets"`
	Silent  []string `json:"silent"`
	Hosts   []Host   `json:"hosts"`

	descPath string
}

const envDesc = "UMBRA_TESTBED_DESC"

// skipOrFail skips the test, or fails it when CI is set: CI must never go
// green by skipping.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format+" (CI is set, so this fails instead of skipping)", args...)
	}
	t.Skipf(format, args...)
}

func repoRoot() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "scripts", "testnet.sh")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("scripts/testnet.sh not found above %s", dir)
}

var (
	sigOnce sync.Once
	liveMu  sync.Mutex
	live    = map[string]string{} // name → script, to tear down on a signal
)

// Up builds a fresh test network with extra plain hosts and tears it down
// when the test ends, or when the test binary is interrupted. It skips
// under -short and without root (failing instead when CI is set).
func Up(t testing.TB, extra int) *Net {
	t.Helper()
	if testing.Short() {
		skipOrFail(t, "the test network is skipped under -short")
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "the test network needs root")
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "scripts", "testnet.sh")
	var rnd [3]byte
	rand.Read(rnd[:])
	name := "gt" + hex.EncodeToString(rnd[:])

	sigOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			<-ch
			liveMu.Lock()
			for n, s := range live {
				exec.Command(s, "down", n).Run()
			}
			os.Exit(130)
		}()
	})
	liveMu.Lock()
	live[name] = script
	liveMu.Unlock()
	t.Cleanup(func() {
		if out, err := exec.Command(script, "down", name).CombinedOutput(); err != nil {
			t.Errorf("testnet.sh down %s: %v\n%s", name, err, out)
		}
		liveMu.Lock()
		delete(live, name)
		liveMu.Unlock()
	})
	// Networks left by a test binary that was killed outright.
	exec.Command(script, "gc").Run()

	cmd := exec.Command(script, "up", name, "--extra", fmt.Sprint(extra))
	cmd.Env = append(os.Environ(), fmt.Sprintf("UMBRA_TESTNET_OWNER=%d", os.Getpid()))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("testnet.sh up %s: %v\n%s", name, err, stderr.String())
	}
	n := &Net{}
	if err := json.Unmarshal(out, n); err != nil {
		t.Fatalf("testnet.sh up printed a bad description: %v\n%s", err, out)
	}
	n.descPath = filepath.Join(t.TempDir(), "desc.json")
	if err := os.WriteFile(n.descPath, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

// RunInScanner runs the test named test of this test binary inside the
// scanner namespace and fails t if it fails. The child finds the network
// with Child.
func (n *Net) RunInScanner(t testing.TB, test string, args ...string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"netns", "exec", n.Scanner, exe, "-test.run", "^" + test + "$", "-test.v", "-test.count=1"}, args...)
	cmd := exec.CommandContext(t.Context(), "ip", argv...)
	cmd.Env = append(os.Environ(), envDesc+"="+n.descPath)
	out, err := cmd.CombinedOutput()
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		t.Log(sc.Text())
	}
	if err != nil {
		t.Fatalf("%s in the scanner namespace: %v", test, err)
	}
	if !strings.Contains(string(out), "--- PASS: "+test) {
		t.Fatalf("%s did not run in the scanner namespace", test)
	}
}

// Child returns the network when this process is the child that
// RunInScanner started, after checking that it runs in an isolated
// namespace: no default route, only loopback and the test interface. It
// skips the test otherwise (the parent test runs it).
func Child(t testing.TB) *Net {
	t.Helper()
	path := os.Getenv(envDesc)
	if path == "" {
		t.Skip("runs only inside the test network (started by its parent test)")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := &Net{descPath: path}
	if err := json.Unmarshal(data, n); err != nil {
		t.Fatal(err)
	}
	if err := CheckIsolated(); err != nil {
		t.Fatalf("refusing to scan: %v", err)
	}
	return n
}

// CheckIsolated returns an error unless this process's network namespace
// has no default route and no interface but lo and eth0.
func CheckIsolated() error {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 2 && f[1] == "00000000" && f[7] == "00000000" {
			return fmt.Errorf("a default route via %s exists", f[0])
		}
	}
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name() != "lo" && e.Name() != "eth0" {
			return fmt.Errorf("unexpected interface %s", e.Name())
		}
	}
	return nil
}

// Host returns the named host.
func (n *Net) Host(name string) (Host, bool) {
	for _, h := range n.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return Host{}, false
}
