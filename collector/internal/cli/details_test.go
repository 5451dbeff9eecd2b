package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/shared/wire"
)

const evil = "\x1b]0;pwned\x07\x1b[2Jevil\tname\n\u202egpj.exe\x9b31m"

// serveDetails answers the detail routes with fixed bodies.
func serveDetails(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	answer := func(v any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(v)
		}
	}
	mux.Handle("GET "+adminapi.PathHosts+"/agent-1", answer(adminapi.HostDetail{
		Host: adminapi.Host{AgentID: "agent-1", ReportID: "r-2", Hostname: "web-01", Platform: "debian", PlatformVersion: "12.5",
			OSFamily: "linux", Arch: "amd64", CPUModel: "Xeon", CPUCores: 4, CPUThreads: 8, MemoryBytes: 16 << 30, LastSeen: seen},
		FQDN: "web-01.corp.example", OSBuild: "b1", TimeZone: "Europe/Paris", UTCOffsetSeconds: 7200,
		Hardware: &wire.Hardware{System: wire.System{Vendor: "Dell Inc.", Model: "Latitude 7440", Serial: evil, Chassis: "laptop"},
			Disks:       []wire.Disk{{Name: "nvme0n1", Kind: "nvme", SizeBytes: 512 << 30, Model: evil}},
			MemorySlots: 4, MemoryMaxBytes: 64 << 30,
			MemoryModules: []wire.MemoryModule{{Locator: "DIMM_A1", Bank: "P0 CHANNEL A", SizeBytes: 8 << 30, Type: "DDR5",
				SpeedMTs: 5600, ConfiguredSpeedMTs: 4800, Manufacturer: "Kingston"}}},
		Interfaces: []wire.Interface{{Name: "eth0", MAC: "00:11:22:aa:bb:cc", Addrs: []string{"192.0.2.7/24"}, MTU: 1500, Up: true}},
		Users:      []wire.User{{Name: evil, ID: "1000", Admin: true}},
		Listeners:  []wire.Listener{{Protocol: "tcp", Address: "0.0.0.0", Port: 22, Process: "sshd", PID: 812}},
		Services:   []wire.Service{{Name: "sshd", State: "running"}, {Name: "x", State: "failed"}},
		Security:   &wire.Security{Firewalls: []wire.Firewall{{Name: "nftables", Enabled: true}}},
		Errors:     []wire.SourceError{{Source: "rpm", Error: evil}, {Source: "smbios", Error: "needs root", Unavailable: true}},
		Software:   adminapi.HostSoftware{Mode: "delta", AsOfReportID: "r-1", Verified: true, Count: 3, BySource: map[string]int{"dpkg": 2, evil: 1}},
	}))
	mux.Handle("GET "+adminapi.PathSoftware, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("name") != "cu" {
			http.Error(w, `{"error":"want name=cu"}`, 400)
			return
		}
		answer(adminapi.SoftwareList{Software: []adminapi.Software{
			{Name: "curl", Source: "dpkg", Installs: 12, Versions: []string{"7.88", "8.5"}, Publishers: []string{"Debian"}},
			{Name: evil, Source: "snap", Installs: 1, Versions: []string{}, Publishers: []string{}},
		}})(w, r)
	}))
	mux.Handle("GET "+adminapi.PathDevices, answer(adminapi.DeviceList{Devices: []adminapi.Device{
		{IP: "192.0.2.10", MAC: "00:11:22:33:44:55", Vendor: "HP", Hostname: evil, Kind: "printer", Methods: []string{"arp", "snmp"},
			Observers: []string{"agent-1"}, FirstSeen: seen, LastSeen: seen},
	}}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func noControls(t *testing.T, out string) {
	t.Helper()
	for _, r := range out {
		if r < 0x20 && r != '\n' || r == 0x7f || r >= 0x80 && r < 0xa0 || r == '\u202e' {
			t.Errorf("output holds control character %U:\n%q", r, out)
			return
		}
	}
}

func TestDetailCommands(t *testing.T) {
	url := serveDetails(t)
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"host", "agent-1"}, []string{"web-01 (agent agent-1)", "web-01.corp.example", "debian 12.5, build b1 (linux, amd64)",
			"Europe/Paris (UTC+02:00)", "4c/8t Xeon", "Dell Inc. Latitude 7440", `\x1b]0;pwned\x07`, "nvme0n1", "512.0 GiB",
			"00:11:22:aa:bb:cc", "192.0.2.7/24", "admin", "22", "sshd", "nftables", "enabled", "1 failed, 1 running",
			"3 packages (", "dpkg 2)", "as of report r-1",
			"1 of 4 slots used, up to 64.0 GiB", "P0 CHANNEL A/DIMM_A1: 8.0 GiB DDR5 5600 MT/s (running at 4800) Kingston", "smbios unavailable: needs root", "rpm failed:"}},
		{[]string{"software", "--name", "cu"}, []string{"NAME", "INSTALLS", "curl", "12", "7.88,8.5", "Debian", `\u202e`}},
		{[]string{"devices"}, []string{"IP", "SEEN BY", "192.0.2.10", "00:11:22:33:44:55", "HP", "printer", "arp,snmp", "agent-1", `\x1b[2J`}},
	} {
		t.Run(tt.args[0], func(t *testing.T) {
			code, out, stderr := runCLI(t, nil, append(tt.args, "--collector", url)...)
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			noControls(t, out)

			code, out, stderr = runCLI(t, nil, append(tt.args, "--json", "--collector", url)...)
			if code != 0 || !json.Valid([]byte(out)) {
				t.Errorf("--json: exit %d, stderr %q, output %q", code, stderr, out)
			}
		})
	}
	if code, _, _ := runCLI(t, nil, "host", "--collector", url); code != exitUsage {
		t.Errorf("host without an agent id: exit %d, want %d", code, exitUsage)
	}
	if code, _, stderr := runCLI(t, nil, "host", "agent-2", "--collector", url); code != exitError || stderr == "" {
		t.Errorf("host of an unknown agent: exit %d, stderr %q", code, stderr)
	}
}
