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
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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

// Mgmt is the management link of a network built with UpManaged: a /30
// of 198.18.255.0/24 between the scanner namespace (ScannerIf,
// ScannerAddr) and the root namespace (HostIf, HostAddr). A collector
// listening on HostAddr is all the scanner reaches outside the test
// network.
type Mgmt struct {
	Prefix      string `json:"prefix"`
	HostAddr    string `json:"host_addr"`
	ScannerAddr string `json:"scanner_addr"`
	HostIf      string `json:"host_if"`
	ScannerIf   string `json:"scanner_if"`
}

// Net describes a running test network.
type Net struct {
	Name    string   `json:"name"`
	ID      string   `json:"id"`
	Scanner string   `json:"scanner"`
	Subnets []string `json:"subnets"`
	Silent  []string `json:"silent"`
	Hosts   []Host   `json:"hosts"`
	Mgmt    *Mgmt    `json:"mgmt,omitempty"`

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
	return up(t, extra, false)
}

// UpManaged is Up with a management link from the scanner namespace to
// the root namespace (see Mgmt), for an agent in the scanner namespace to
// reach a collector in the root namespace.
func UpManaged(t testing.TB, extra int) *Net {
	t.Helper()
	return up(t, extra, true)
}

func up(t testing.TB, extra int, mgmt bool) *Net {
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

	args := []string{"up", name, "--extra", fmt.Sprint(extra)}
	if mgmt {
		args = append(args, "--mgmt")
	}
	cmd := exec.Command(script, args...)
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
	if err := CheckIsolatedMgmt(n.Mgmt); err != nil {
		t.Fatalf("refusing to scan: %v", err)
	}
	return n
}

// CheckIsolated returns an error unless this process's network namespace
// has no default route and no interface but lo and eth0.
func CheckIsolated() error { return CheckIsolatedMgmt(nil) }

// CheckIsolatedMgmt is CheckIsolated that also accepts the management
// link m, if not nil: one more interface, named m.ScannerIf, whose only
// route is its connected /30 (m.Prefix).
func CheckIsolatedMgmt(m *Mgmt) error {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return err
	}
	ents, err := os.ReadDir("/sys/class/net")
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return checkIsolated(string(data), names, m)
}

// checkIsolated checks a /proc/net/route table and the interface names.
func checkIsolated(routes string, ifaces []string, m *Mgmt) error {
	var mgmtNet, mgmtMask string
	if m != nil {
		p, err := netip.ParsePrefix(m.Prefix)
		if err != nil || !p.Addr().Is4() || p.Bits() < 30 || !netip.MustParsePrefix("198.18.255.0/24").Contains(p.Addr()) {
			return fmt.Errorf("management link %q: want a /30 or /31 of 198.18.255.0/24", m.Prefix)
		}
		mgmtNet = procHex(p.Masked().Addr().As4())
		mask := ^uint32(0) << (32 - p.Bits())
		mgmtMask = procHex([4]byte{byte(mask >> 24), byte(mask >> 16), byte(mask >> 8), byte(mask)})
	}
	for _, line := range strings.Split(routes, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		if f[1] == "00000000" && f[7] == "00000000" {
			return fmt.Errorf("a default route via %s exists", f[0])
		}
		if m != nil && f[0] == m.ScannerIf && (f[1] != mgmtNet || f[7] != mgmtMask || f[2] != "00000000") {
			return fmt.Errorf("the management link %s has a route beyond its /30: %s", f[0], line)
		}
	}
	for _, name := range ifaces {
		if name == "lo" || name == "eth0" || m != nil && name == m.ScannerIf {
			continue
		}
		return fmt.Errorf("unexpected interface %s", name)
	}
	return nil
}

// procHex writes an IPv4 address as /proc/net/route does: the 32-bit
// value in host (little-endian) order, in hex.
func procHex(b [4]byte) string {
	return fmt.Sprintf("%02X%02X%02X%02X", b[3], b[2], b[1], b[0])
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

// Leaks runs cycles start/cancel cycles of run and fails t unless the
// goroutines and open files (/proc/self/fd) of the process return to
// where they were. run gets a context that is cancelled before it starts
// (every other cycle) or after a random delay of at most maxDelay, which
// lands anywhere in its work: sockets opening, packets in flight, answers
// being read.
func Leaks(t testing.TB, cycles int, maxDelay time.Duration, run func(ctx context.Context)) {
	t.Helper()
	gBase, fBase := runtime.NumGoroutine(), OpenFiles(t)
	start := time.Now()
	for i := range cycles {
		ctx, cancel := context.WithCancel(t.Context())
		if i%2 == 0 {
			cancel()
		} else {
			time.AfterFunc(time.Duration(mrand.Int64N(int64(maxDelay)+1)), cancel)
		}
		run(ctx)
		cancel()
	}
	g, f := Settle(gBase), OpenFiles(t)
	t.Logf("%d start/cancel cycles in %v: goroutines %d → %d, open files %d → %d",
		cycles, time.Since(start).Round(time.Millisecond), gBase, g, fBase, f)
	if g > gBase || f > fBase {
		buf := make([]byte, 1<<16)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("leak after %d cycles: goroutines %d → %d, open files %d → %d; goroutines:\n%s",
			cycles, gBase, g, fBase, f, buf)
	}
}

// OpenFiles counts this process's open file descriptors.
func OpenFiles(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// Settle waits up to 3 s for the goroutine count to fall to at most want,
// and returns the count.
func Settle(want int) int {
	deadline := time.Now().Add(3 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}
