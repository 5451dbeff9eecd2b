package security

import (
	"io/fs"
	"regexp"
	"strconv"
	"strings"

	"github.com/umbrasec/umbra/agent/internal/inventory/plist"
	"github.com/umbrasec/umbra/shared/wire"
)

// ParseFdesetup reads `fdesetup status`: "FileVault is On.", "FileVault is
// Off.", or "Encryption in progress: Percent completed = 42".
func ParseFdesetup(out []byte) (wire.VolumeEncryption, bool) {
	s := strings.TrimSpace(string(out))
	first, _, _ := strings.Cut(s, "\n")
	v := wire.VolumeEncryption{Volume: "/", Method: "filevault", Status: strings.TrimSpace(first)}
	switch {
	case strings.HasPrefix(first, "FileVault is On"):
		v.Encrypted = true
	case strings.HasPrefix(first, "FileVault is Off"):
	case strings.Contains(first, "Encryption in progress"), strings.Contains(first, "Decryption in progress"):
		// Partly encrypted: not yet protected at rest.
	default:
		return v, false
	}
	return v, true
}

// ALFPlist reads the application firewall's state from
// /Library/Preferences/com.apple.alf.plist: globalstate 0 off, 1 on for
// specific services, 2 essential services only (block all incoming).
func ALFPlist(data []byte) (wire.Firewall, bool) {
	d, err := plist.Dict(data)
	if err != nil {
		return wire.Firewall{}, false
	}
	st, ok := plist.Int(d, "globalstate")
	if !ok {
		return wire.Firewall{}, false
	}
	return alf(st, d["stealthenabled"]), true
}

var socketfilterState = regexp.MustCompile(`\(State = (\d+)\)`)

// ParseSocketfilterfw reads `socketfilterfw --getglobalstate`: "Firewall is
// enabled. (State = 1)" (macOS 15 and later keep the state out of
// com.apple.alf.plist).
func ParseSocketfilterfw(out []byte) (wire.Firewall, bool) {
	s := string(out)
	if m := socketfilterState.FindStringSubmatch(s); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return alf(n, nil), true
	}
	switch {
	case strings.Contains(s, "Firewall is enabled"):
		return wire.Firewall{Name: "macos-alf", Enabled: true}, true
	case strings.Contains(s, "Firewall is disabled"):
		return wire.Firewall{Name: "macos-alf"}, true
	}
	return wire.Firewall{}, false
}

func alf(state int64, stealth any) wire.Firewall {
	fw := wire.Firewall{Name: "macos-alf", Enabled: state > 0}
	switch state {
	case 1:
		fw.Detail = "on"
	case 2:
		fw.Detail = "on, blocking all incoming connections"
	default:
		fw.Detail = "off"
	}
	if s, ok := stealth.(int64); ok && s == 1 {
		fw.Detail += ", stealth mode"
	}
	return fw
}

// xprotectPlists are where XProtect's bundle lives: macOS 11 and later,
// then older.
var xprotectPlists = []string{
	"Library/Apple/System/Library/CoreServices/XProtect.bundle/Contents/Info.plist",
	"System/Library/CoreServices/XProtect.bundle/Contents/Info.plist",
}

// macProducts are third-party anti-malware products recognised by their
// application bundle.
var macProducts = []struct{ name, path string }{
	{"CrowdStrike Falcon", "Applications/Falcon.app"},
	{"Microsoft Defender for Endpoint", "Applications/Microsoft Defender.app"},
	{"SentinelOne", "Applications/SentinelOne/SentinelOne Extensions.app"},
	{"Sophos", "Applications/Sophos/Sophos Endpoint.app"},
	{"ESET Endpoint Security", "Applications/ESET Endpoint Security.app"},
	{"Malwarebytes", "Applications/Malwarebytes.app"},
}

// MacAntivirus lists XProtect, with its version, and the third-party
// products installed under root.
func MacAntivirus(root fs.FS) []wire.Antivirus {
	var out []wire.Antivirus
	for _, p := range xprotectPlists {
		b, err := fs.ReadFile(root, p)
		if err != nil {
			continue
		}
		av := wire.Antivirus{Name: "XProtect", Enabled: true}
		if d, err := plist.Dict(b); err == nil {
			if v := plist.String(d, "CFBundleShortVersionString"); v != "" {
				av.Detail = "version " + v
			}
		}
		out = append(out, av)
		break
	}
	for _, p := range macProducts {
		if _, err := fs.Stat(root, p.path); err == nil {
			out = append(out, wire.Antivirus{Name: p.name, Detail: "installed (" + "/" + p.path + ")"})
		}
	}
	return out
}
