package software

import (
	"strconv"
	"strings"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// UninstallKey is one subkey of a registry Uninstall key as the Windows
// fetcher reads it: the subkey name, where it was found, and its values
// (strings, or uint64 for DWORD and QWORD values).
type UninstallKey struct {
	Key string `json:"key"`
	// View is "HKLM" (64-bit view), "HKLM32" (WOW6432Node) or "HKU\SID"
	// for a per-user install.
	View   string         `json:"view"`
	Values map[string]any `json:"values"`
}

// ParseUninstall turns Uninstall subkeys into packages, as "Programs and
// Features" shows them: entries without a DisplayName, system components,
// and updates of another entry (ParentKeyName) are left out; an entry seen
// in both views once.
func ParseUninstall(keys []UninstallKey) []wire.Package {
	var out []wire.Package
	seen := map[string]bool{}
	for _, k := range keys {
		s := func(name string) string {
			switch v := k.Values[name].(type) {
			case string:
				return strings.TrimSpace(strings.TrimRight(v, "\x00"))
			case uint64:
				return strconv.FormatUint(v, 10)
			case float64: // from JSON
				return strconv.FormatFloat(v, 'f', -1, 64)
			}
			return ""
		}
		n := func(name string) (uint64, bool) {
			switch v := k.Values[name].(type) {
			case uint64:
				return v, true
			case float64:
				return uint64(v), v >= 0
			case string:
				u, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				return u, err == nil
			}
			return 0, false
		}
		name := s("DisplayName")
		if name == "" || s("ParentKeyName") != "" {
			continue
		}
		if c, ok := n("SystemComponent"); ok && c == 1 {
			continue
		}
		if rt := strings.ToLower(s("ReleaseType")); rt == "update" || rt == "hotfix" || rt == "security update" {
			continue
		}
		p := wire.Package{
			Name:      name,
			Version:   s("DisplayVersion"),
			Publisher: s("Publisher"),
			Source:    wire.SourceWindowsProgram,
			ID:        k.Key,
			Location:  s("InstallLocation"),
		}
		switch {
		case strings.HasPrefix(k.View, `HKU\`):
			p.Scope = "user:" + strings.TrimPrefix(k.View, `HKU\`)
		case k.View == "HKLM32":
			p.Arch = "x86"
		}
		if t, err := time.Parse("20060102", s("InstallDate")); err == nil {
			p.InstallDate = t
		}
		if kb, ok := n("EstimatedSize"); ok && kb < 1<<40 {
			p.SizeBytes = kb * 1024
		}
		key := p.Scope + "\x00" + p.Arch + "\x00" + strings.ToLower(k.Key)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, p)
	}
	return out
}

// Hotfix is a row of WMI's Win32_QuickFixEngineering.
type Hotfix struct {
	HotFixID    string
	Description string
	InstalledOn string
	InstalledBy string
}

// ParseHotfixes turns Win32_QuickFixEngineering rows into packages. The
// InstalledOn string is M/D/YYYY in the system's US format, or on some
// systems a hex FILETIME.
func ParseHotfixes(rows []Hotfix) []wire.Package {
	var out []wire.Package
	seen := map[string]bool{}
	for _, r := range rows {
		id := strings.TrimSpace(r.HotFixID)
		if id == "" || id == "File 1" || seen[id] {
			continue
		}
		seen[id] = true
		p := wire.Package{Name: id, ID: id, Source: wire.SourceWindowsHotfix, Publisher: "Microsoft Corporation",
			Version: strings.TrimSpace(r.Description)}
		p.InstallDate = hotfixDate(strings.TrimSpace(r.InstalledOn))
		out = append(out, p)
	}
	return out
}

func hotfixDate(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{"1/2/2006", "2006-01-02", "20060102"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	if ft, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0x"), 16, 64); err == nil && len(s) >= 15 {
		// FILETIME: 100 ns since 1601.
		const epochDiff = 116444736000000000
		if ft > epochDiff {
			return unixTime(int64((ft - epochDiff) / 1e7))
		}
	}
	return time.Time{}
}
