package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
	"github.com/umbrasec/umbra/shared/wire"
)

var lim = wire.DefaultLimits

func TestHostFrom(t *testing.T) {
	long := strings.Repeat("h", 5000)
	tests := []struct {
		name     string
		in       host.InfoStat
		bootID   string
		wantHost wire.Host
		wantOS   wire.OS
		wantErrs []string // substrings, one per source error
	}{
		{
			name: "debian",
			in: host.InfoStat{
				Hostname: " web-1\n", OS: "linux", Platform: "debian", PlatformFamily: "debian",
				PlatformVersion: "12.5", KernelVersion: "6.1.0-18-amd64", KernelArch: "x86_64",
				VirtualizationSystem: "kvm", VirtualizationRole: "guest", BootTime: 1700000000,
				HostID: "4c4c4544-0042-3510-8057-b4c04f4d3732",
			},
			wantHost: wire.Host{
				HostID: "4c4c4544-0042-3510-8057-b4c04f4d3732", Hostname: "web-1",
				Virtualization: "kvm", VirtualizationRole: "guest",
				BootTime: time.Unix(1700000000, 0).UTC(),
			},
			wantOS: wire.OS{Family: "linux", Platform: "debian", PlatformGroup: "debian", Version: "12.5", Kernel: "6.1.0-18-amd64", Arch: "x86_64"},
		},
		{
			name:     "5000-byte hostname is cut",
			in:       host.InfoStat{Hostname: long, OS: "linux"},
			wantHost: wire.Host{Hostname: long[:lim.MaxStringLen]},
			wantOS:   wire.OS{Family: "linux"},
		},
		{
			name:     "placeholder host id is dropped",
			in:       host.InfoStat{Hostname: "pc", HostID: "03000200-0400-0500-0006-000700080009"},
			wantHost: wire.Host{Hostname: "pc"},
			wantErrs: []string{"placeholder"},
		},
		{
			name:     "all-zero host id is dropped",
			in:       host.InfoStat{Hostname: "pc", HostID: "00000000-0000-0000-0000-000000000000"},
			wantHost: wire.Host{Hostname: "pc"},
			wantErrs: []string{"placeholder"},
		},
		{
			name:     "boot id as host id is dropped",
			in:       host.InfoStat{Hostname: "pc", HostID: "9f2c1a8e-7d3b-4e5f-a1b2-c3d4e5f60718"},
			bootID:   "9F2C1A8E-7D3B-4E5F-A1B2-C3D4E5F60718\n",
			wantHost: wire.Host{Hostname: "pc"},
			wantErrs: []string{"boot id"},
		},
		{
			name:     "oversized host id is dropped",
			in:       host.InfoStat{Hostname: "pc", HostID: "ab" + long},
			wantHost: wire.Host{Hostname: "pc"},
			wantErrs: []string{"5002 bytes"},
		},
		{
			name:     "control characters and bad UTF-8 removed",
			in:       host.InfoStat{Hostname: "pc\x00\x1b[31m\xff-1", Platform: "\tubuntu\r\n"},
			wantHost: wire.Host{Hostname: "pc[31m-1"},
			wantOS:   wire.OS{Platform: "ubuntu"},
		},
		{
			name:     "absurd boot time ignored",
			in:       host.InfoStat{Hostname: "pc", BootTime: 1 << 62},
			wantHost: wire.Host{Hostname: "pc"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := &sourceErrors{lim: lim}
			gotHost, gotOS := hostFrom(tt.in, tt.bootID, lim, errs)
			if !reflect.DeepEqual(gotHost, tt.wantHost) {
				t.Errorf("hostFrom(%+v) host = %+v, want %+v", tt.in, gotHost, tt.wantHost)
			}
			if gotOS != tt.wantOS {
				t.Errorf("hostFrom(%+v) os = %+v, want %+v", tt.in, gotOS, tt.wantOS)
			}
			checkErrs(t, errs.list(), sourceHost, tt.wantErrs)
		})
	}
}

func checkErrs(t *testing.T, got []wire.SourceError, source string, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("source errors = %+v, want %d matching %q", got, len(want), want)
	}
	for i, e := range got {
		if e.Source != source || !strings.Contains(e.Error, want[i]) {
			t.Errorf("source error %d = %+v, want source %q and error containing %q", i, e, source, want[i])
		}
	}
}

func TestCPUFrom(t *testing.T) {
	xeon := "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"
	tests := []struct {
		name           string
		goos           string
		infos          []cpu.InfoStat
		cores, threads int
		want           wire.CPU
	}{
		{
			name: "linux two sockets",
			goos: "linux",
			infos: []cpu.InfoStat{
				{CPU: 0, VendorID: "GenuineIntel", ModelName: xeon, PhysicalID: "0", Mhz: 2500},
				{CPU: 1, VendorID: "GenuineIntel", ModelName: xeon, PhysicalID: "0", Mhz: 3900},
				{CPU: 2, VendorID: "GenuineIntel", ModelName: xeon, PhysicalID: "1", Mhz: 2500},
			},
			cores: 40, threads: 80,
			want: wire.CPU{Model: xeon, Vendor: "GenuineIntel", Sockets: 2, Cores: 40, Threads: 80, MHz: 3900},
		},
		{
			name:  "windows entries are sockets",
			goos:  "windows",
			infos: []cpu.InfoStat{{ModelName: "AMD Ryzen 7", PhysicalID: "178BFBFF00A50F00"}, {ModelName: "AMD Ryzen 7", PhysicalID: "178BFBFF00A50F00"}},
			cores: 16, threads: 32,
			want: wire.CPU{Model: "AMD Ryzen 7", Sockets: 2, Cores: 16, Threads: 32},
		},
		{
			name:  "arm without model or socket",
			goos:  "linux",
			infos: []cpu.InfoStat{{CPU: 0}, {CPU: 1}},
			cores: 2, threads: 2,
			want: wire.CPU{Cores: 2, Threads: 2},
		},
		{
			name:  "hostile values",
			goos:  "linux",
			infos: []cpu.InfoStat{{ModelName: strings.Repeat("x", 5000), Mhz: 1e12}},
			cores: -1, threads: -4,
			want: wire.CPU{Model: strings.Repeat("x", lim.MaxStringLen)},
		},
		{name: "nothing read", goos: "darwin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cpuFrom(tt.goos, tt.infos, tt.cores, tt.threads, lim)
			if got != tt.want {
				t.Errorf("cpuFrom(%q, …) = %+v, want %+v", tt.goos, got, tt.want)
			}
		})
	}
}

func TestInterfacesFrom(t *testing.T) {
	tests := []struct {
		name     string
		in       []net.InterfaceStat
		want     []wire.Interface
		wantErrs []string
	}{
		{
			name: "loopback and ethernet with IPv6",
			in: []net.InterfaceStat{
				{Index: 1, Name: "lo", MTU: 65536, Flags: []string{"up", "loopback"}, Addrs: net.InterfaceAddrList{{Addr: "127.0.0.1/8"}, {Addr: "::1/128"}}},
				{Index: 2, Name: "eth0", MTU: 1500, HardwareAddr: "00:1A:2B:3C:4D:5E", Flags: []string{"up", "broadcast", "multicast"},
					Addrs: net.InterfaceAddrList{{Addr: "192.0.2.7/24"}, {Addr: "2001:db8::7/64"}, {Addr: "fe80::21a:2bff:fe3c:4d5e%eth0/64"}}},
			},
			want: []wire.Interface{
				{Name: "lo", MTU: 65536, Up: true, Loopback: true, Addrs: []string{"127.0.0.1/8", "::1/128"}},
				{Name: "eth0", MTU: 1500, MAC: "00:1a:2b:3c:4d:5e", Up: true, Addrs: []string{"192.0.2.7/24", "2001:db8::7/64", "fe80::21a:2bff:fe3c:4d5e/64"}},
			},
		},
		{
			name: "down interface, dashed MAC, bare and mapped addresses",
			in: []net.InterfaceStat{{Name: "Ethernet 2", HardwareAddr: "00-1A-2B-3C-4D-5F",
				Addrs: net.InterfaceAddrList{{Addr: "10.1.2.3"}, {Addr: "2001:db8::1"}, {Addr: "::ffff:10.0.0.1/24"}}}},
			want: []wire.Interface{{Name: "Ethernet 2", MAC: "00:1a:2b:3c:4d:5f", Addrs: []string{"10.1.2.3/32", "2001:db8::1/128", "10.0.0.1/24"}}},
		},
		{
			name: "all-zero and empty MACs left out quietly",
			in: []net.InterfaceStat{
				{Name: "tun0", HardwareAddr: "00:00:00:00:00:00", Flags: []string{"up", "pointtopoint"}},
				{Name: "wg0", HardwareAddr: ""},
			},
			want: []wire.Interface{{Name: "tun0", Up: true}, {Name: "wg0"}},
		},
		{
			name: "InfiniBand address left out quietly",
			in:   []net.InterfaceStat{{Name: "ib0", HardwareAddr: "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:7c:41"}},
			want: []wire.Interface{{Name: "ib0"}},
		},
		{
			name:     "bad MAC dropped and noted",
			in:       []net.InterfaceStat{{Name: "eth1", HardwareAddr: "zz:zz:zz:zz:zz:zz"}},
			want:     []wire.Interface{{Name: "eth1"}},
			wantErrs: []string{`eth1: MAC dropped: "zz:zz:zz:zz:zz:zz" is not a MAC address`},
		},
		{
			name:     "bad addresses dropped and noted",
			in:       []net.InterfaceStat{{Name: "eth2", Addrs: net.InterfaceAddrList{{Addr: "not-an-ip/24"}, {Addr: "10.0.0.1/33"}, {Addr: "10.0.0.2/24"}}}},
			want:     []wire.Interface{{Name: "eth2", Addrs: []string{"10.0.0.2/24"}}},
			wantErrs: []string{"not an IP address", "bad prefix length"},
		},
		{
			name:     "nameless interface left out",
			in:       []net.InterfaceStat{{Index: 7, Name: " \x00 "}},
			wantErrs: []string{"index 7 has no name"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := &sourceErrors{lim: lim}
			got := interfacesFrom(tt.in, lim, errs)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("interfacesFrom(%+v) =\n%+v, want\n%+v", tt.in, got, tt.want)
			}
			checkErrs(t, errs.list(), sourceInterfaces, tt.wantErrs)
		})
	}
}

func TestInterfacesFromCapsAtLimits(t *testing.T) {
	small := lim
	small.MaxInterfaces = 3
	small.MaxAddresses = 2
	var in []net.InterfaceStat
	for i := range 10 {
		in = append(in, net.InterfaceStat{Name: fmt.Sprintf("veth%d", i),
			Addrs: net.InterfaceAddrList{{Addr: "10.0.0.1/8"}, {Addr: "10.0.0.2/8"}, {Addr: "10.0.0.3/8"}}})
	}
	errs := &sourceErrors{lim: small}
	got := interfacesFrom(in, small, errs)
	if len(got) != 3 {
		t.Fatalf("interfacesFrom(10 interfaces) kept %d, want 3", len(got))
	}
	for _, ifc := range got {
		if len(ifc.Addrs) != 2 {
			t.Errorf("%s kept %d addresses, want 2", ifc.Name, len(ifc.Addrs))
		}
	}
	if n := len(errs.list()); n != 4 {
		t.Errorf("source errors = %d, want 4 (3 address caps, 1 interface cap)", n)
	}
}

func TestSourceErrorsCap(t *testing.T) {
	small := lim
	small.MaxSourceErrors = 3
	errs := &sourceErrors{lim: small}
	for i := range 10 {
		errs.add("x", fmt.Errorf("error %d", i))
	}
	got := errs.list()
	if len(got) != 3 || got[2].Error != "8 more errors not listed" {
		t.Errorf("list() = %+v, want 2 errors and \"8 more errors not listed\"", got)
	}
}

func TestBuild(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	permErr := &fs.PathError{Op: "open", Path: "/sys/class/dmi/id/product_uuid", Err: fs.ErrPermission}
	r := raw{
		goos:     "linux",
		host:     host.InfoStat{Hostname: strings.Repeat("n", 5000), OS: "linux", HostID: "03000200-0400-0500-0006-000700080009"},
		hostErrs: []error{fmt.Errorf("reading boot time: %w", permErr)},
		cpuErr:   errors.New("cpuinfo: broken"),
		cores:    4, threads: 8,
		memErr: permErr,
		ifaces: []net.InterfaceStat{{Name: "eth0", HardwareAddr: "not-a-mac", Flags: []string{"up"}, Addrs: net.InterfaceAddrList{{Addr: "fe80::1/64"}}}},
	}
	inv := build(r, now, lim)

	if !inv.CollectedAt.Equal(now) || inv.CollectedAt.Location() != time.UTC || !inv.Full {
		t.Errorf("build: collected_at %v full %v, want %v in UTC and full", inv.CollectedAt, inv.Full, now)
	}
	if inv.CPU.Cores != 4 || inv.CPU.Threads != 8 {
		t.Errorf("build: cpu %+v, want counts kept though cpu info failed", inv.CPU)
	}
	want := []wire.SourceError{
		{Source: "host", Error: "reading boot time: open /sys/class/dmi/id/product_uuid: permission denied", Unavailable: true},
		{Source: "host", Error: `host id dropped: "03000200-0400-0500-0006-000700080009": placeholder value`},
		{Source: "cpu", Error: "cpuinfo: broken"},
		{Source: "memory", Error: "open /sys/class/dmi/id/product_uuid: permission denied", Unavailable: true},
		{Source: "interfaces", Error: `eth0: MAC dropped: "not-a-mac" is not a MAC address`},
	}
	if !reflect.DeepEqual(inv.Errors, want) {
		t.Errorf("build: errors =\n%+v, want\n%+v", inv.Errors, want)
	}
	rep := &wire.Report{Schema: wire.Schema, ID: "r1", Kind: wire.KindInventory, AgentID: "a1",
		AgentVersion: "test", CreatedAt: now, Inventory: inv}
	if err := rep.Validate(lim, now); err != nil {
		t.Errorf("build of hostile input does not validate: %v", err)
	}
	if got := memoryFrom(&mem.VirtualMemoryStat{Total: 8 << 30}); got.TotalBytes != 8<<30 {
		t.Errorf("memoryFrom(8 GiB) = %d", got.TotalBytes)
	}
}

func TestClean(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"  plain  ", 10, "plain"},
		{"héllo", 2, "h"}, // é is two bytes: not split
		{"héllo", 3, "hé"},
		{"a\x00b\u200bc", 10, "ab\u200bc"}, // zero-width space is a format character, not a control
		{"\xff\xfe", 10, ""},
		{"ab   cd", 4, "ab"},
	}
	for _, tt := range tests {
		l := lim
		l.MaxStringLen = tt.n
		if got := clean(tt.in, l); got != tt.want {
			t.Errorf("clean(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestImplemented(t *testing.T) {
	notImpl := errors.New("not implemented yet")
	other := errors.New("boom")
	for _, tt := range []struct {
		in, want error
	}{
		{nil, nil},
		{notImpl, nil},
		{fmt.Errorf("virtualization: %w", notImpl), nil},
		{other, other},
	} {
		if got := implemented(tt.in); got != tt.want {
			t.Errorf("implemented(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
