package security

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// cryptMethod returns the encryption of a device-mapper uuid, or "" when
// the mapping is not dm-crypt encryption (dm-verity and dm-integrity use
// the CRYPT- prefix too, without encrypting).
func cryptMethod(uuid string) string {
	rest, ok := strings.CutPrefix(strings.TrimSpace(uuid), "CRYPT-")
	if !ok {
		return ""
	}
	kind, _, _ := strings.Cut(rest, "-")
	switch kind {
	case "VERITY", "INTEGRITY", "SUBDEV", "":
		return ""
	case "LUKS1":
		return "luks1"
	case "LUKS2":
		return "luks2"
	case "BITLK":
		return "bitlocker"
	}
	return strings.ToLower(kind) // plain, tcrypt, loopaes
}

func readTrim(root fs.FS, name string) string {
	b, err := fs.ReadFile(root, name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// LinuxEncryption reads the dm-crypt mappings, /etc/crypttab and whether
// the root and /home file systems sit on an encrypted mapping, under root
// (normally "/").
func LinuxEncryption(root fs.FS) []wire.VolumeEncryption {
	var out []wire.VolumeEncryption
	// The file systems people care about first.
	mounts := mountDevices(root)
	for _, mp := range []string{"/", "/home"} {
		dev, ok := mounts[mp]
		if !ok {
			continue
		}
		name := blockName(root, dev)
		if name == "" {
			continue // not on a block device: overlay, tmpfs, a container
		}
		v := wire.VolumeEncryption{Volume: mp}
		if crypt, method := encryptedBelow(root, name, 0); crypt != "" {
			v.Encrypted, v.Method = true, method
			v.Status = "on dm-crypt mapping " + crypt
		} else {
			v.Status = "not encrypted (" + name + ")"
		}
		out = append(out, v)
	}
	open := map[string]bool{}
	entries, _ := fs.ReadDir(root, "sys/class/block")
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "dm-") {
			continue
		}
		method := cryptMethod(readTrim(root, path.Join("sys/class/block", e.Name(), "dm/uuid")))
		if method == "" {
			continue
		}
		name := readTrim(root, path.Join("sys/class/block", e.Name(), "dm/name"))
		if name == "" {
			name = e.Name()
		}
		open[name] = true
		out = append(out, wire.VolumeEncryption{Volume: "/dev/mapper/" + name, Method: method, Encrypted: true, Status: "open"})
	}
	if b, err := fs.ReadFile(root, "etc/crypttab"); err == nil {
		for _, c := range ParseCrypttab(b) {
			if open[c.Name] {
				continue
			}
			out = append(out, wire.VolumeEncryption{Volume: "/dev/mapper/" + c.Name, Method: c.Method, Encrypted: true,
				Status: "in /etc/crypttab, not open (" + c.Device + ")"})
		}
	}
	return out
}

// mountDevices maps mount points to their device "major:minor" from
// /proc/self/mountinfo.
func mountDevices(root fs.FS) map[string]string {
	b, err := fs.ReadFile(root, "proc/self/mountinfo")
	if err != nil {
		return nil
	}
	m := map[string]string{}
	for l := range strings.Lines(string(b)) {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		m[f[4]] = f[2] // the last mount on a point wins, as it hides the others
	}
	return m
}

// blockName returns the kernel name (vda1, dm-0) of a block device number,
// or "" when the number is not a block device.
func blockName(root fs.FS, dev string) string {
	target, err := fs.ReadLink(root, "sys/dev/block/"+dev)
	if err != nil {
		return ""
	}
	return path.Base(target)
}

// encryptedBelow looks down the device stack (LVM on LUKS, …) from a block
// device for a dm-crypt mapping; it returns the mapping's name and method.
func encryptedBelow(root fs.FS, name string, depth int) (string, string) {
	if depth > 8 {
		return "", ""
	}
	dir := path.Join("sys/class/block", name)
	if m := cryptMethod(readTrim(root, path.Join(dir, "dm/uuid"))); m != "" {
		n := readTrim(root, path.Join(dir, "dm/name"))
		if n == "" {
			n = name
		}
		return n, m
	}
	slaves, _ := fs.ReadDir(root, path.Join(dir, "slaves"))
	for _, s := range slaves {
		if n, m := encryptedBelow(root, s.Name(), depth+1); n != "" {
			return n, m
		}
	}
	return "", ""
}

// CrypttabEntry is one line of /etc/crypttab.
type CrypttabEntry struct {
	Name, Device, Method string
}

// ParseCrypttab reads /etc/crypttab (crypttab(5)): name, device, key file
// and options per line. The method is luks unless the options say plain,
// bitlk or tcrypt.
func ParseCrypttab(data []byte) []CrypttabEntry {
	var out []CrypttabEntry
	for l := range strings.Lines(string(data)) {
		f := strings.Fields(l)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		e := CrypttabEntry{Name: f[0], Device: f[1], Method: "luks"}
		if len(f) >= 4 {
			for o := range strings.SplitSeq(f[3], ",") {
				switch o {
				case "plain", "bitlk", "tcrypt":
					e.Method = o
				}
			}
		}
		out = append(out, e)
	}
	return out
}

// Nftables summarises `nft list ruleset`: it is on when a rule or a base
// chain with a drop policy exists.
func Nftables(ruleset []byte) wire.Firewall {
	tables, chains, rules := 0, 0, 0
	var drops []string
	var stack []string // the kinds of the open blocks: table, chain, set, …
	chain := ""
	sc := bufio.NewScanner(bytes.NewReader(ruleset))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		inChain := len(stack) > 0 && stack[len(stack)-1] == "chain"
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasSuffix(l, "{") && !inChain:
			kind, rest, _ := strings.Cut(l, " ")
			switch kind {
			case "table":
				tables++
			case "chain":
				chains++
				chain = strings.TrimSpace(strings.TrimSuffix(rest, "{"))
			}
			stack = append(stack, kind)
		case l == "}":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case inChain && strings.HasPrefix(l, "type ") && strings.Contains(l, "hook "):
			if strings.Contains(l, "policy drop") {
				drops = append(drops, chain)
			}
		case inChain && !strings.HasPrefix(l, "policy ") && !strings.HasPrefix(l, "comment "):
			rules++
		}
	}
	fw := wire.Firewall{Name: "nftables", Enabled: rules > 0 || len(drops) > 0}
	fw.Detail = fmt.Sprintf("%d tables, %d chains, %d rules", tables, chains, rules)
	if len(drops) > 0 {
		fw.Detail += "; drop policy on " + strings.Join(uniq(drops), ", ")
	}
	return fw
}

// Iptables summarises iptables-save's output (legacy iptables, whose
// tables /proc/net/ip_tables_names lists).
func Iptables(tables []byte, save []byte) wire.Firewall {
	names := strings.Fields(string(tables))
	slices.Sort(names)
	fw := wire.Firewall{Name: "iptables", Detail: "tables: " + strings.Join(names, ", ")}
	if save == nil {
		fw.Detail += "; rules unknown (iptables-save not run)"
		return fw
	}
	rules := 0
	var drops []string
	for l := range strings.Lines(string(save)) {
		switch {
		case strings.HasPrefix(l, "-A "):
			rules++
		case strings.HasPrefix(l, ":"):
			f := strings.Fields(l[1:])
			if len(f) >= 2 && f[1] == "DROP" {
				drops = append(drops, f[0])
			}
		}
	}
	fw.Enabled = rules > 0 || len(drops) > 0
	fw.Detail = fmt.Sprintf("%d rules", rules)
	if len(drops) > 0 {
		fw.Detail += "; DROP policy on " + strings.Join(uniq(drops), ", ")
	}
	return fw
}

// keyValues reads a shell-style KEY=value file (ufw.conf, /etc/default/ufw,
// firewalld.conf).
func keyValues(data []byte) map[string]string {
	m := map[string]string{}
	for l := range strings.Lines(string(data)) {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok {
			m[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return m
}

// ConfiguredFirewalls reads the ufw and firewalld configuration under
// root. firewalld counts as on when systemd starts it at boot.
func ConfiguredFirewalls(root fs.FS) []wire.Firewall {
	var out []wire.Firewall
	if b, err := fs.ReadFile(root, "etc/ufw/ufw.conf"); err == nil {
		kv := keyValues(b)
		fw := wire.Firewall{Name: "ufw", Enabled: strings.EqualFold(kv["ENABLED"], "yes")}
		if d, err := fs.ReadFile(root, "etc/default/ufw"); err == nil {
			if p := keyValues(d)["DEFAULT_INPUT_POLICY"]; p != "" {
				fw.Detail = "default input policy " + p
			}
		}
		out = append(out, fw)
	}
	if b, err := fs.ReadFile(root, "etc/firewalld/firewalld.conf"); err == nil {
		fw := wire.Firewall{Name: "firewalld"}
		for _, w := range []string{"multi-user.target.wants", "sysinit.target.wants", "basic.target.wants"} {
			if _, err := fs.Stat(root, path.Join("etc/systemd/system", w, "firewalld.service")); err == nil {
				fw.Enabled = true
			}
		}
		if z := keyValues(b)["DefaultZone"]; z != "" {
			fw.Detail = "default zone " + z
		}
		if !fw.Enabled {
			fw.Detail = strings.TrimPrefix(fw.Detail+"; not started at boot", "; ")
		}
		out = append(out, fw)
	}
	return out
}

// product is an anti-malware product recognised by its files and
// processes.
type product struct {
	name  string
	paths []string // any present: installed
	procs []string // any running (/proc/*/comm): enabled
}

// linuxProducts are the anti-malware products the agent recognises.
var linuxProducts = []product{
	{"ClamAV", []string{"usr/bin/clamscan", "usr/sbin/clamd"}, []string{"clamd", "freshclam", "clamonacc"}},
	{"Microsoft Defender for Endpoint", []string{"opt/microsoft/mdatp"}, []string{"wdavdaemon"}},
	{"CrowdStrike Falcon", []string{"opt/CrowdStrike/falconctl"}, []string{"falcon-sensor", "falcond"}},
	{"SentinelOne", []string{"opt/sentinelone"}, []string{"sentinelone-agent", "s1-agent"}},
	{"Sophos", []string{"opt/sophos-spl", "opt/sophos-av"}, []string{"sophos_threat_d", "savd", "sophosspl"}},
	{"ESET", []string{"opt/eset"}, []string{"oaeventd", "esets_daemon", "eset_rtp"}},
	{"Trend Micro Deep Security", []string{"opt/ds_agent"}, []string{"ds_agent"}},
	{"Trellix/McAfee Endpoint Security", []string{"opt/McAfee", "opt/isec"}, []string{"mfetpd", "isectpd"}},
	{"Cortex XDR", []string{"opt/traps"}, []string{"pmd", "traps_pmd"}},
	{"Wazuh agent", []string{"var/ossec/bin/wazuh-agentd"}, []string{"wazuh-agentd"}},
}

// LinuxAntivirus lists the known anti-malware products installed under
// root; running holds the process names running now (ProcessNames). For
// ClamAV, the signatures are up to date when younger than a week at now.
func LinuxAntivirus(root fs.FS, running map[string]bool, now time.Time) []wire.Antivirus {
	var out []wire.Antivirus
	for _, p := range linuxProducts {
		found := false
		for _, f := range p.paths {
			if _, err := fs.Stat(root, f); err == nil {
				found = true
				break
			}
		}
		if !found {
			continue
		}
		av := wire.Antivirus{Name: p.name}
		var on []string
		for _, proc := range p.procs {
			if running[proc] {
				on = append(on, proc)
			}
		}
		av.Enabled = len(on) > 0
		if av.Enabled {
			av.Detail = "running: " + strings.Join(on, ", ")
		} else {
			av.Detail = "installed, not running"
		}
		if p.name == "ClamAV" {
			if t := newestSignatures(root); !t.IsZero() {
				av.UpToDate = now.Sub(t) < 7*24*time.Hour
				av.Detail += "; signatures of " + t.UTC().Format("2006-01-02")
			}
		}
		out = append(out, av)
	}
	return out
}

// newestSignatures returns the build time of the newest ClamAV database:
// from the 512-byte header of each .cvd/.cld file
// ("ClamAV-VDB:01 Jun 2025 07-21 +0000:27656:…"), else its modification
// time.
func newestSignatures(root fs.FS) time.Time {
	var newest time.Time
	entries, _ := fs.ReadDir(root, "var/lib/clamav")
	for _, e := range entries {
		if n := e.Name(); !strings.HasSuffix(n, ".cvd") && !strings.HasSuffix(n, ".cld") {
			continue
		}
		t := time.Time{}
		if b, err := readHead(root, path.Join("var/lib/clamav", e.Name()), 512); err == nil {
			t = CVDTime(b)
		}
		if t.IsZero() {
			if info, err := e.Info(); err == nil {
				t = info.ModTime()
			}
		}
		if t.After(newest) {
			newest = t
		}
	}
	return newest
}

// CVDTime reads the build time of a ClamAV database header, or the zero
// time.
func CVDTime(header []byte) time.Time {
	rest, ok := strings.CutPrefix(string(header), "ClamAV-VDB:")
	if !ok {
		return time.Time{}
	}
	stamp, _, _ := strings.Cut(rest, ":")
	t, err := time.Parse("02 Jan 2006 15-04 -0700", stamp)
	if err != nil {
		return time.Time{}
	}
	return t
}

func readHead(root fs.FS, name string, n int) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	m, err := io.ReadFull(f, buf)
	if m > 0 {
		return buf[:m], nil
	}
	return nil, err
}

// ProcessNames returns the names (comm) of the processes under root's
// /proc.
func ProcessNames(root fs.FS) map[string]bool {
	m := map[string]bool{}
	entries, _ := fs.ReadDir(root, "proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if c := readTrim(root, path.Join("proc", e.Name(), "comm")); c != "" {
			m[c] = true
		}
	}
	return m
}

func uniq(list []string) []string {
	slices.Sort(list)
	return slices.Compact(list)
}
