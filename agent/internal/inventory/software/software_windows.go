package software

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
	"github.com/yusufpapurcu/wmi"
	"golang.org/x/sys/windows/registry"
)

const uninstallPath = `SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall`

func collect(ctx context.Context) ([]wire.Package, []error) {
	var errs []error
	var keys []UninstallKey
	for _, v := range []struct {
		view   string
		access uint32
	}{{"HKLM", registry.WOW64_64KEY}, {"HKLM32", registry.WOW64_32KEY}} {
		k, err := readUninstall(registry.LOCAL_MACHINE, uninstallPath, v.access, v.view)
		if err != nil {
			errs = append(errs, source.Errorf(wire.SourceWindowsProgram, "%s: %w", describeView(v.view, uninstallPath), err))
		}
		keys = append(keys, k...)
	}
	// Per-user installs of every user whose hive is loaded (logged on or
	// running a service).
	users, err := registry.USERS.ReadSubKeyNames(-1)
	if err != nil {
		errs = append(errs, source.Errorf(wire.SourceWindowsProgram, "listing HKU: %w", err))
	}
	for _, sid := range users {
		if !strings.HasPrefix(sid, "S-1-5-21-") || strings.HasSuffix(sid, "_Classes") {
			continue
		}
		k, err := readUninstall(registry.USERS, sid+`\`+uninstallPath, 0, `HKU\`+sid)
		if err != nil && !errors.Is(err, registry.ErrNotExist) {
			errs = append(errs, source.Errorf(wire.SourceWindowsProgram, "%s: %w", describeView(`HKU\`+sid, uninstallPath), err))
		}
		keys = append(keys, k...)
	}
	pkgs := ParseUninstall(keys)

	if ctx.Err() == nil {
		var rows []Hotfix
		q := "SELECT HotFixID, Description, InstalledOn, InstalledBy FROM Win32_QuickFixEngineering"
		if err := wmi.Query(q, &rows); err != nil {
			errs = append(errs, source.Errorf(wire.SourceWindowsHotfix, "WMI Win32_QuickFixEngineering: %w", err))
		} else {
			pkgs = append(pkgs, ParseHotfixes(rows)...)
		}
	}
	return pkgs, errs
}

// readUninstall reads every subkey of an Uninstall key with its values.
func readUninstall(root registry.Key, path string, access uint32, view string) ([]UninstallKey, error) {
	k, err := registry.OpenKey(root, path, registry.READ|access)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	names, err := k.ReadSubKeyNames(-1)
	if err != nil {
		return nil, fmt.Errorf("listing subkeys: %w", err)
	}
	var out []UninstallKey
	for _, name := range names {
		sk, err := registry.OpenKey(k, name, registry.QUERY_VALUE|access)
		if err != nil {
			continue
		}
		vals := map[string]any{}
		for _, v := range []string{"DisplayName", "DisplayVersion", "Publisher", "InstallDate", "InstallLocation",
			"ParentKeyName", "ReleaseType"} {
			if s, _, err := sk.GetStringValue(v); err == nil {
				vals[v] = s
			}
		}
		for _, v := range []string{"SystemComponent", "EstimatedSize"} {
			if n, _, err := sk.GetIntegerValue(v); err == nil {
				vals[v] = n
			}
		}
		sk.Close()
		out = append(out, UninstallKey{Key: name, View: view, Values: vals})
	}
	return out, nil
}

// describeView names a registry view for an error message.
func describeView(view, key string) string { return fmt.Sprintf(`%s\%s`, view, key) }
