// Package services lists a host's system services: systemd units and SysV
// init scripts on Linux, the service control manager's services on
// Windows, launchd jobs on macOS.
//
// The OS files only fetch bytes and run the OS's own tools; every parser
// is portable and tested on Linux from fixtures of each OS.
package services

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

// Sources named in errors.
const (
	SourceSystemd = "services.systemd"
	SourceSysV    = "services.sysv"
	SourceWindows = "services.windows"
	SourceLaunchd = "services.launchd"
	// SourceState is the running state of the services (systemctl,
	// launchctl).
	SourceState = "services.state"
)

// Collect lists this host's services. Each error is a *source.Error; a
// failed source costs only itself.
func Collect(ctx context.Context) ([]wire.Service, []error) {
	return collect(ctx)
}

// Linux lists the systemd units and the SysV scripts no unit replaces
// under root; states as for Systemd.
func Linux(root fs.FS, states map[string]string) ([]wire.Service, []error) {
	out, errs := Systemd(root, states)
	have := make(map[string]bool, len(out))
	for _, s := range out {
		have[s.Name] = true
	}
	sysv, e := SysV(root, have)
	return append(out, sysv...), append(errs, e...)
}

// Darwin lists the launchd jobs of LaunchdDirs under root, with the
// overrides of launchd's disabled.plist under root; states as for Launchd.
func Darwin(root fs.FS, states map[string]string) ([]wire.Service, []error) {
	var errs []error
	var disabled map[string]bool
	if b, err := readLimited(root, "private/var/db/com.apple.xpc.launchd/disabled.plist", 4<<20); err == nil {
		disabled = LaunchdDisabled(b)
	}
	var out []wire.Service
	seen := map[string]bool{}
	bad := 0
	for _, dir := range LaunchdDirs {
		entries, err := fs.ReadDir(root, dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, source.Wrap(SourceLaunchd, err))
			}
			continue
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".plist") {
				continue
			}
			file := path.Join(dir, e.Name())
			data, err := readLimited(root, file, 1<<20)
			if err != nil {
				bad++
				continue
			}
			s, err := Launchd(data, "/"+file, disabled, states)
			if err != nil {
				if bad++; bad <= 4 {
					errs = append(errs, source.Errorf(SourceLaunchd, "%s: %w", "/"+file, err))
				}
				continue
			}
			if seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b wire.Service) int { return strings.Compare(a.Name, b.Name) })
	return out, errs
}
