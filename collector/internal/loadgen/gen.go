package loadgen

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// catalogEntry is one package of the fixed, generated software catalogue
// simulated hosts draw their installed software from.
type catalogEntry struct {
	name, publisher, version string
	size                     uint64
}

// Well-known software with its publisher; the catalogue starts with these
// and is filled with generated library names up to the size asked.
var knownSoftware = [][2]string{
	{"openssl", "OpenSSL Project"}, {"curl", "Daniel Stenberg"}, {"firefox", "Mozilla"},
	{"google-chrome-stable", "Google LLC"}, {"slack-desktop", "Slack Technologies"},
	{"zoom", "Zoom Video Communications"}, {"code", "Microsoft Corporation"},
	{"teams", "Microsoft Corporation"}, {"onedrive", "Microsoft Corporation"},
	{"7zip", "Igor Pavlov"}, {"vlc", "VideoLAN"}, {"git", "Git Project"},
	{"python3", "Python Software Foundation"}, {"nodejs", "OpenJS Foundation"},
	{"docker-ce", "Docker Inc."}, {"openssh-server", "OpenBSD Project"},
	{"libreoffice", "The Document Foundation"}, {"thunderbird", "Mozilla"},
	{"dropbox", "Dropbox, Inc."}, {"anydesk", "AnyDesk Software GmbH"},
	{"teamviewer", "TeamViewer Germany GmbH"}, {"postgresql-16", "PostgreSQL Global Development Group"},
	{"nginx", "F5, Inc."}, {"apache2", "Apache Software Foundation"},
	{"wireshark", "Wireshark Foundation"}, {"putty", "Simon Tatham"},
	{"notepad-plus-plus", "Notepad++ Team"}, {"adobe-acrobat-reader", "Adobe Inc."},
	{"spotify", "Spotify AB"}, {"keepassxc", "KeePassXC Team"},
	{"bash", "GNU Project"}, {"coreutils", "GNU Project"}, {"systemd", "systemd developers"},
	{"glibc", "GNU Project"}, {"zlib1g", "Jean-loup Gailly and Mark Adler"},
	{"sudo", "Todd C. Miller"}, {"rsync", "Wayne Davison"}, {"vim", "Bram Moolenaar"},
}

var syllables = []string{"ax", "bel", "cor", "dex", "fin", "gal", "hy", "io", "jor", "kel",
	"lum", "mor", "nex", "ot", "pra", "qui", "ros", "syn", "tor", "ul", "ven", "wex", "yo", "zel"}

var publishers = []string{"Debian Project", "Ubuntu Developers", "Red Hat, Inc.", "GNOME Project",
	"KDE e.V.", "Freedesktop.org", "Apache Software Foundation", "Microsoft Corporation",
	"Oracle Corporation", "Intel Corporation", "NVIDIA Corporation", "Canonical Ltd."}

// catalog builds n distinct packages, the same for the same seed.
func catalog(seed uint64, n int) []catalogEntry {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]catalogEntry, 0, n)
	for i := 0; i < n; i++ {
		var e catalogEntry
		if i < len(knownSoftware) {
			e.name, e.publisher = knownSoftware[i][0], knownSoftware[i][1]
		} else {
			e.name = fmt.Sprintf("lib%s%s%s%d", syllables[r.IntN(len(syllables))],
				syllables[r.IntN(len(syllables))], syllables[r.IntN(len(syllables))], i)
			if r.IntN(3) == 0 {
				e.name += "-dev"
			}
			e.publisher = publishers[r.IntN(len(publishers))]
		}
		e.version = fmt.Sprintf("%d.%d.%d-%dubuntu%d", r.IntN(12), r.IntN(30), r.IntN(20), 1+r.IntN(4), r.IntN(3))
		e.size = uint64(10_000 + r.IntN(200_000_000))
		out = append(out, e)
	}
	return out
}

type osProfile struct {
	family, platform, version, kernel, source, arch string
}

var osProfiles = []osProfile{
	{"linux", "ubuntu", "24.04", "6.8.0-45-generic", wire.SourceDpkg, "amd64"},
	{"linux", "debian", "12.7", "6.1.0-25-amd64", wire.SourceDpkg, "amd64"},
	{"windows", "Microsoft Windows 11 Pro", "10.0.22631", "10.0.22631", wire.SourceWindowsProgram, "x64"},
	{"windows", "Microsoft Windows 10 Enterprise", "10.0.19045", "10.0.19045", wire.SourceWindowsProgram, "x64"},
}

var departments = []string{"fin", "eng", "hr", "ops", "sales", "mkt", "legal", "it"}

// host is one simulated machine: its identity and installed software,
// fixed for the run.
type host struct {
	index    int
	hostID   string
	hostname string
	os       osProfile
	ifaces   []wire.Interface
	software []wire.Package
	memory   uint64
	cores    int
}

// newHost makes simulated host i with p packages drawn from cat.
func newHost(seed uint64, i, p int, cat []catalogEntry) *host {
	r := rand.New(rand.NewPCG(seed, uint64(i)+1))
	h := &host{index: i, os: osProfiles[r.IntN(len(osProfiles))]}
	kind := [...]string{"ws", "lt", "srv"}[r.IntN(3)]
	h.hostname = fmt.Sprintf("%s-%s-%04d", kind, departments[r.IntN(len(departments))], i)
	h.hostID = fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint32()&0xffff, r.Uint64()&0xffffffffffff)
	h.memory = uint64(8<<30) << r.IntN(3)
	h.cores = 2 << r.IntN(3)
	mac := func() string {
		return fmt.Sprintf("52:54:%02x:%02x:%02x:%02x", r.IntN(256), r.IntN(256), byte(i>>8), byte(i))
	}
	addr := netip.AddrFrom4([4]byte{10, byte(r.IntN(8)), byte(i >> 8), byte(i)})
	lo, eth := "lo", "eth0"
	if h.os.family == "windows" {
		lo, eth = "Loopback Pseudo-Interface 1", "Ethernet"
	}
	h.ifaces = []wire.Interface{
		{Name: lo, Addrs: []string{"127.0.0.1/8", "::1/128"}, MTU: 65536, Up: true, Loopback: true, Kind: "loopback"},
		{Name: eth, MAC: mac(), Addrs: []string{netip.PrefixFrom(addr, 16).String()}, MTU: 1500, Up: true, Kind: "wired"},
	}
	if kind == "lt" {
		h.ifaces = append(h.ifaces, wire.Interface{Name: "wlan0", MAC: mac(), MTU: 1500, Kind: "wireless"})
	}
	// p distinct catalogue entries: a random permutation's prefix.
	perm := r.Perm(len(cat))[:p]
	h.software = make([]wire.Package, p)
	for j, k := range perm {
		e := cat[k]
		h.software[j] = wire.Package{Name: e.name, Version: e.version, Publisher: e.publisher,
			Arch: h.os.arch, Source: h.os.source, SizeBytes: e.size,
			InstallDate: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(600*24)) * time.Hour)}
	}
	return h
}

// report builds the host's k-th full inventory report.
func (h *host) report(agentID, id string, now time.Time) *wire.Report {
	return &wire.Report{
		Schema: wire.Schema, ID: id, Kind: wire.KindInventory, AgentID: agentID,
		AgentVersion: "loadgen", CreatedAt: now,
		Inventory: &wire.Inventory{
			CollectedAt: now, Full: true,
			Host: wire.Host{HostID: h.hostID, Hostname: h.hostname, FQDN: h.hostname + ".corp.example",
				Domain: "corp.example", Gateways: []string{"10.0.0.1"}, DNSServers: []string{"10.0.0.53"}},
			OS: wire.OS{Family: h.os.family, Platform: h.os.platform, Version: h.os.version,
				Kernel: h.os.kernel, Arch: h.os.arch, TimeZone: "UTC"},
			CPU:        wire.CPU{Model: "Intel(R) Core(TM) i7-1265U", Vendor: "GenuineIntel", Sockets: 1, Cores: h.cores, Threads: 2 * h.cores, MHz: 2700},
			Memory:     wire.Memory{TotalBytes: h.memory},
			Interfaces: h.ifaces,
			Software:   h.software,
		},
	}
}
