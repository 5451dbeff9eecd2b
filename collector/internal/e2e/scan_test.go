//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
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

// bed is the part of scripts/testnet.sh's description this test reads.
type bed struct {
	Scanner string `json:"scanner"`
	Hosts   []struct {
		Name string `json:"name"`
		IP   string `json:"ip"`
		MAC  string `json:"mac"`
		Role string `json:"role"`
	} `json:"hosts"`
	Mgmt *struct {
		Prefix      string `json:"prefix"`
		HostAddr    string `json:"host_addr"`
		ScannerAddr string `json:"scanner_addr"`
		ScannerIf   string `json:"scanner_if"`
	} `json:"mgmt"`
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this fails instead of skipping)", why)
	}
	t.Skip(why)
}

// upBed builds the simulated office with a management link and tears it
// down when the test ends.
func upBed(t *testing.T, root string) *bed {
	t.Helper()
	script := filepath.Join(root, "scripts", "testnet.sh")
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	name := "e2" + hex.EncodeToString(rnd[:])
	t.Cleanup(func() {
		if out, err := exec.Command(script, "down", name).CombinedOutput(); err != nil {
			t.Errorf("testnet.sh down %s: %v\n%s", name, err, out)
		}
	})
	cmd := exec.Command(script, "up", name, "--mgmt")
	cmd.Env = append(os.Environ(), fmt.Sprintf("UMBRA_TESTNET_OWNER=%d", os.Getpid()))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("testnet.sh up %s --mgmt: %v\n%s", name, err, stderr.String())
	}
	b := &bed{}
	if err := json.Unmarshal(out, b); err != nil || b.Mgmt == nil {
		t.Fatalf("testnet.sh printed a bad description (%v):\n%s", err, out)
	}
	return b
}

// checkScannerIsolated refuses to go on unless the scanner namespace has
// no default route, and no interface and no route but the bed's and the
// management /30.
func checkScannerIsolated(t *testing.T, b *bed) {
	t.Helper()
	links, err := exec.Command("ip", "-n", b.Scanner, "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(links)), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if name != "lo" && name != "eth0" && name != b.Mgmt.ScannerIf {
			t.Fatalf("refusing to scan: the scanner namespace has an unexpected interface %s", name)
		}
	}
	for _, fam := range []string{"-4", "-6"} {
		routes, err := exec.Command("ip", "-n", b.Scanner, fam, "route", "show", "table", "all").Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range strings.Split(strings.TrimSpace(string(routes)), "\n") {
			f := strings.Fields(r)
			switch {
			case len(f) == 0:
			case f[0] == "default":
				t.Fatalf("refusing to scan: the scanner namespace has a default route: %s", r)
			case strings.Contains(r, "dev "+b.Mgmt.ScannerIf) && f[0] != b.Mgmt.Prefix && f[0] != "local" && f[0] != "broadcast":
				t.Fatalf("refusing to scan: the management link has a route beyond its /30: %s", r)
			}
		}
	}
	p := netip.MustParsePrefix(b.Mgmt.Prefix)
	if !netip.MustParsePrefix("198.18.255.0/24").Contains(p.Addr()) || p.Bits() < 30 {
		t.Fatalf("refusing to scan: management link %s is not a /30 of 198.18.255.0/24", p)
	}
}

// TestScanJobOnTestNetwork: a scan requested with the CLI is routed to the
// agent running inside the simulated office (reaching the collector over
// the management link only), runs with progress, and its results are
// stored and listed by umbra devices.
func TestScanJobOnTestNetwork(t *testing.T) {
	if testing.Short() {
		skipOrFail(t, "the scan end-to-end test is skipped under -short")
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "the scan end-to-end test needs root (network namespaces)")
	}
	root, err := storetest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.NewEmpty(t)
	chAddr := storetest.Addr(t)
	bin := t.TempDir()
	build(t, bin)
	b := upBed(t, root)
	checkScannerIsolated(t, b)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// The collector listens on the root end of the management link only.
	addrFile := filepath.Join(t.TempDir(), "url")
	collState := t.TempDir()
	var collLog syncBuffer
	collArgs := []string{"--listen", b.Mgmt.HostAddr + ":0", "--addr-file", addrFile, "--tls-names", b.Mgmt.HostAddr,
		"--clickhouse", chAddr, "--database", db.Database(), "--state-dir", collState}
	coll := exec.Command(filepath.Join(bin, "umbra-collector"), append(collArgs, "--scan-allow", "198.18.1.0/24,198.18.2.0/24",
		"--scan-max-addrs", "512", "--scan-lease", "15s")...)
	coll.Stdout, coll.Stderr = &collLog, &collLog
	if err := coll.Start(); err != nil {
		t.Fatal(err)
	}
	collDone := make(chan error, 1)
	go func() { collDone <- coll.Wait() }()
	defer func() {
		_ = coll.Process.Signal(syscall.SIGTERM)
		select {
		case <-collDone:
		case <-time.After(20 * time.Second):
			_ = coll.Process.Kill()
			<-collDone
		}
		if t.Failed() {
			t.Logf("collector log:\n%s", collLog.String())
		}
	}()
	var url string
	waitFor(t, "the collector's address file", 30*time.Second, func() bool {
		data, err := os.ReadFile(addrFile)
		url = strings.TrimSpace(string(data))
		return err == nil && url != ""
	})
	fp, err := os.ReadFile(filepath.Join(collState, "ca.fingerprint"))
	if err != nil {
		t.Fatal(err)
	}

	runEnv := func(env []string, argv ...string) (string, string, error) {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	adminCfg := filepath.Join(collState, "admin.json")
	cliEnv := []string{"UMBRA_CONFIG=" + adminCfg}
	umbra := func(env []string, args ...string) string {
		t.Helper()
		out, stderr, err := runEnv(append(cliEnv, env...), append([]string{filepath.Join(bin, "umbra")}, args...)...)
		if err != nil {
			t.Fatalf("umbra %v: %v\n%s%s", args, err, out, stderr)
		}
		return out
	}
	if out, stderr, err := runEnv(nil, append([]string{filepath.Join(bin, "umbra-collector"), "bootstrap-token", "--out", adminCfg}, collArgs...)...); err != nil {
		t.Fatalf("bootstrap-token: %v\n%s%s", err, out, stderr)
	}
	secret := strings.TrimSpace(umbra(nil, "enroll-secret", "create", "--name", "office-scanner", "--ttl", "1h"))

	// The agent enrols and runs inside the scanner namespace.
	state := t.TempDir()
	inNS := func(argv ...string) []string { return append([]string{"ip", "netns", "exec", b.Scanner}, argv...) }
	if out, stderr, err := runEnv([]string{"UMBRA_ENROLL_SECRET=" + secret}, inNS(filepath.Join(bin, "umbra-agent"), "enroll",
		"--collector", url, "--ca-fingerprint", strings.TrimSpace(string(fp)), "--state-dir", state)...); err != nil {
		t.Fatalf("umbra-agent enroll in the scanner namespace: %v\n%s%s", err, out, stderr)
	}
	agentIDBytes, err := os.ReadFile(filepath.Join(state, "agent-id"))
	if err != nil {
		t.Fatal(err)
	}
	agentID := strings.TrimSpace(string(agentIDBytes))
	var agentLog syncBuffer
	ag := exec.Command("ip", inNS(filepath.Join(bin, "umbra-agent"), "run", "--collector", url, "--state-dir", state, "--log-level", "debug")[1:]...)
	ag.Stdout, ag.Stderr = &agentLog, &agentLog
	ag.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := ag.Start(); err != nil {
		t.Fatal(err)
	}
	agDone := make(chan error, 1)
	go func() { agDone <- ag.Wait() }()
	defer func() {
		_ = syscall.Kill(-ag.Process.Pid, syscall.SIGTERM)
		select {
		case <-agDone:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-ag.Process.Pid, syscall.SIGKILL)
			<-agDone
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", agentLog.String())
		}
	}()

	// Its first inventory tells the collector it sits on 198.18.1.0/24.
	waitFor(t, "the agent's inventory", 90*time.Second, func() bool {
		out, _, err := runEnv(cliEnv, filepath.Join(bin, "umbra"), "hosts", "--json")
		var list adminapi.HostList
		return err == nil && json.Unmarshal([]byte(out), &list) == nil && len(list.Hosts) == 1 && list.Hosts[0].AgentID == agentID
	})

	// SNMP credentials, kept on the collector; secrets come from the
	// environment, never the command line.
	umbra([]string{"UMBRA_SNMP_COMMUNITY=umbra-ro"}, "credential", "add", "office-ro", "--version", "2c")
	umbra([]string{"UMBRA_SNMP_COMMUNITY=public"}, "credential", "add", "printers")
	umbra([]string{"UMBRA_SNMP_AUTH_PASS=umbra-auth-pass", "UMBRA_SNMP_PRIV_PASS=umbra-priv-pass"},
		"credential", "add", "files-v3", "--version", "3", "--user", "umbrav3", "--auth", "SHA", "--priv", "AES")
	if list := umbra(nil, "credential", "list"); !strings.Contains(list, "files-v3") || strings.Contains(list, "umbra-priv-pass") {
		t.Errorf("umbra credential list:\n%s", list)
	}
	// Agents scan only on trusted networks: the office segment is one.
	umbra(nil, "network", "trust", "add", "--subnet", "198.18.1.0/24", "--note", "simulated office")

	// The register holds the router, the switch, the printer and the file
	// server; nothing else on the office network is registered.
	registered := map[string]bool{"router": true, "switch": true, "printer": true, "server": true}
	var csv strings.Builder
	csv.WriteString("tag,name,category,serial,macs,hostname,owner,location,lifecycle\n")
	for i, h := range b.Hosts {
		if registered[h.Name] {
			fmt.Fprintf(&csv, "IT-%d,%s,network-infrastructure,,%s,%s,it-ops,HQ,deployed\n", 1000+i, h.Name, h.MAC, h.Name)
		}
	}
	regFile := filepath.Join(t.TempDir(), "register.csv")
	if err := os.WriteFile(regFile, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := umbra(nil, "asset", "import", regFile); !strings.Contains(out, "4 created") {
		t.Fatalf("umbra asset import: %s", out)
	}

	// Outside the allowed ranges, or too large: refused.
	for _, target := range []string{"10.0.0.0/24", "198.18.0.0/16", "8.8.8.8"} {
		if out, stderr, err := runEnv(cliEnv, filepath.Join(bin, "umbra"), "scan", "create", target); err == nil || !strings.Contains(stderr, "refused") {
			t.Errorf("umbra scan create %s: %v %s%s; want refused", target, err, out, stderr)
		}
	}

	// The scan: routed to the agent on the segment, followed to its end.
	start := time.Now()
	out := umbra(nil, "scan", "create", "198.18.1.0/24", "--credentials", "office-ro,printers,files-v3", "--wait", "--timeout", "3m")
	t.Logf("umbra scan create --wait (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	if !strings.Contains(out, " done: ") || !strings.Contains(out, "by agent "+agentID) {
		t.Fatalf("umbra scan create --wait did not end done on agent %s:\n%s", agentID, out)
	}
	if !strings.Contains(out, "%") {
		t.Errorf("umbra scan create --wait showed no progress:\n%s", out)
	}
	if !strings.Contains(out, " new unregistered devices:") {
		t.Errorf("umbra scan create --wait did not end with the new unregistered devices:\n%s", out)
	}
	var scans adminapi.ScanList
	if err := json.Unmarshal([]byte(umbra(nil, "scan", "list", "--json")), &scans); err != nil || len(scans.Scans) != 1 {
		t.Fatalf("umbra scan list --json: %v %+v", err, scans)
	}
	s := scans.Scans[0]
	if s.State != "done" || s.Agent != agentID || s.Found < 8 || s.Total < 254 || s.Rate == 0 || s.Reports == 0 {
		t.Errorf("scan = %+v; want done by %s, >= 8 hosts of 254, a rate and reports", s, agentID)
	}

	// The results are stored and listed.
	var devs adminapi.DeviceList
	waitFor(t, "the scan's observations", 30*time.Second, func() bool {
		out, _, err := runEnv(cliEnv, filepath.Join(bin, "umbra"), "devices", "--json")
		return err == nil && json.Unmarshal([]byte(out), &devs) == nil && len(devs.Devices) >= 8
	})
	table := umbra(nil, "devices")
	for _, h := range b.Hosts {
		if !strings.HasPrefix(h.IP, "198.18.1.") || h.Role == "scanner" {
			continue
		}
		if !strings.Contains(table, h.IP+" ") && !strings.Contains(table, h.IP+"\t") {
			t.Errorf("umbra devices does not list %s (%s):\n%s", h.Name, h.IP, table)
		}
	}
	// SNMP read the router through the credential sent in the job.
	if !strings.Contains(table, "rtr-office-1") && !strings.Contains(umbra(nil, "devices", "--json"), "rtr-office-1") {
		t.Errorf("umbra devices lacks the router's SNMP name rtr-office-1:\n%s", table)
	}

	// The shadow report: every device of the office that no register holds
	// and no agent reports from, and none of the registered ones.
	umbra(nil, "reconcile", "now")
	var shadow struct {
		Findings []struct {
			Kind  string   `json:"kind"`
			Why   string   `json:"why"`
			IPs   []string `json:"ips"`
			MACs  []string `json:"macs"`
			Ports []string `json:"switch_ports"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(umbra(nil, "report", "shadow", "--json")), &shadow); err != nil {
		t.Fatalf("umbra report shadow --json: %v", err)
	}
	flagged := map[string]bool{}
	for _, f := range shadow.Findings {
		if f.Kind != "unregistered-device" || f.Why == "" {
			t.Errorf("shadow report row %+v: want an unregistered-device with a why", f)
		}
		for _, x := range append(f.IPs, f.MACs...) {
			flagged[x] = true
		}
	}
	for _, h := range b.Hosts {
		if !strings.HasPrefix(h.IP, "198.18.1.") || h.Role == "scanner" || h.Role == "plain" {
			continue
		}
		switch hit := flagged[h.IP] || flagged[h.MAC]; {
		case registered[h.Name] && hit:
			t.Errorf("registered %s (%s, %s) is in the shadow report", h.Name, h.IP, h.MAC)
		case !registered[h.Name] && !hit:
			t.Errorf("unregistered %s (%s, %s) is not in the shadow report", h.Name, h.IP, h.MAC)
		}
	}
	if t.Failed() {
		t.Logf("umbra report shadow:\n%s", umbra(nil, "report", "shadow"))
	}

	// Every scan request is audited with who asked; no secret is printed
	// or logged anywhere.
	audit := umbra(nil, "audit")
	if !strings.Contains(audit, "scan.create") || !strings.Contains(audit, "denied") {
		t.Errorf("umbra audit lacks the scan requests:\n%s", audit)
	}
	for _, secret := range []string{"umbra-ro", "umbra-auth-pass", "umbra-priv-pass"} {
		for what, text := range map[string]string{"collector log": collLog.String(), "agent log": agentLog.String(), "audit": audit,
			"scan show": umbra(nil, "scan", "show", s.ID)} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s shows the secret %q", what, secret)
			}
		}
	}
}
