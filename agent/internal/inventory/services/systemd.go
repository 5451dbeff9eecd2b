package services

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

// unitDirs are where systemd looks for system units, highest precedence
// first (systemd.unit(5)); a unit in an earlier folder hides the same
// name in a later one. Paths are relative to the root file system.
var unitDirs = []string{
	"etc/systemd/system",
	"run/systemd/system",
	"run/systemd/generator",
	"lib/systemd/system",
	"usr/lib/systemd/system",
	"usr/local/lib/systemd/system",
	"run/systemd/generator.late",
}

// maxUnitFile bounds the bytes read of one unit file.
const maxUnitFile = 1 << 20

// Start modes and states written by the parsers.
const (
	ModeAuto     = "auto"
	ModeManual   = "manual"
	ModeDisabled = "disabled"

	StateRunning  = "running"
	StateStopped  = "stopped"
	StateFailed   = "failed"
	StateExited   = "exited" // a one-shot service that ran and finished
	StateStarting = "starting"
	StateStopping = "stopping"
	StatePaused   = "paused"
)

// unitFile is one unit found on disk.
type unitFile struct {
	path   string // relative to the root
	masked bool
}

// Systemd lists the .service units under root with their start mode. A
// unit is auto when a *.wants or *.requires folder links it (enabled, or
// pulled in by a target), disabled when masked (linked to /dev/null), and
// manual otherwise (static or disabled: it starts only when asked or as a
// dependency). states maps unit names to their state (see ParseListUnits);
// nil leaves the state empty, unknown. A unit that runs but has no file
// (transient) is listed from states alone.
func Systemd(root fs.FS, states map[string]string) ([]wire.Service, []error) {
	var errs []error
	units := map[string]unitFile{}
	var names []string
	wanted := map[string]bool{}
	for _, dir := range unitDirs {
		entries, err := fs.ReadDir(root, dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, source.Wrap(SourceSystemd, err))
			}
			continue
		}
		for _, e := range entries {
			name := e.Name()
			full := path.Join(dir, name)
			if strings.HasSuffix(name, ".wants") || strings.HasSuffix(name, ".requires") {
				links, err := fs.ReadDir(root, full)
				if err == nil {
					for _, l := range links {
						wanted[l.Name()] = true
					}
				}
				continue
			}
			if e.IsDir() {
				continue
			}
			if !strings.HasSuffix(name, ".service") {
				continue
			}
			if _, seen := units[name]; seen {
				continue
			}
			uf := unitFile{path: full}
			if e.Type()&fs.ModeSymlink != 0 {
				target, err := fs.ReadLink(root, full)
				if err != nil {
					continue
				}
				switch {
				case target == "/dev/null":
					uf.masked = true
				case path.Base(target) != name:
					continue // an alias of another unit
				}
			}
			units[name] = uf
			names = append(names, name)
		}
	}
	// Instances of templates (getty@tty1.service) exist only as links in
	// the .wants folders.
	for w := range wanted {
		if _, ok := units[w]; ok || !strings.HasSuffix(w, ".service") {
			continue
		}
		if tmpl, ok := templateOf(w); ok {
			if uf, ok := units[tmpl]; ok {
				units[w] = uf
				names = append(names, w)
			}
		}
	}
	slices.Sort(names)
	out := make([]wire.Service, 0, len(names))
	listed := map[string]bool{}
	for _, name := range names {
		if strings.HasSuffix(name, "@.service") {
			continue // a template, not a service
		}
		uf := units[name]
		s := wire.Service{Name: name, Manager: "systemd", Path: "/" + uf.path, StartMode: ModeManual}
		switch {
		case uf.masked:
			s.StartMode = ModeDisabled
		case wanted[name]:
			s.StartMode = ModeAuto
		}
		if !uf.masked {
			data, err := readLimited(root, uf.path, maxUnitFile)
			if err != nil {
				errs = append(errs, source.Wrap(SourceSystemd, err))
			} else {
				u := ParseUnit(data)
				s.DisplayName = expandInstance(u.Description, name)
				if exe := Executable(u.ExecStart); exe != "" {
					s.Path = exe
				}
				switch {
				case u.DynamicUser && u.User == "":
					s.User = "dynamic"
				case u.User != "":
					s.User = u.User
				default:
					s.User = "root" // systemd's default for system services
				}
			}
		}
		if states != nil {
			s.State = StateStopped
			if st, ok := states[name]; ok {
				s.State = st
			}
		}
		listed[name] = true
		out = append(out, s)
	}
	// Transient units (systemd-run) have no file.
	var transient []string
	for name := range states {
		if !listed[name] && strings.HasSuffix(name, ".service") && states[name] != StateStopped {
			transient = append(transient, name)
		}
	}
	slices.Sort(transient)
	for _, name := range transient {
		out = append(out, wire.Service{Name: name, Manager: "systemd", State: states[name]})
	}
	return out, errs
}

// templateOf returns the template of an instance name:
// getty@tty1.service → getty@.service.
func templateOf(name string) (string, bool) {
	at := strings.IndexByte(name, '@')
	dot := strings.LastIndexByte(name, '.')
	if at < 0 || dot < at {
		return "", false
	}
	return name[:at+1] + name[dot:], true
}

// expandInstance replaces the %i and %I specifiers of a template's text
// with the instance name (getty@tty1.service → tty1).
func expandInstance(s, unit string) string {
	at := strings.IndexByte(unit, '@')
	dot := strings.LastIndexByte(unit, '.')
	if at < 0 || dot < at || !strings.Contains(s, "%") {
		return s
	}
	inst := unit[at+1 : dot]
	return strings.NewReplacer("%i", inst, "%I", inst, "%%", "%").Replace(s)
}

// listedUnit is one element of `systemctl list-units --output=json`.
type listedUnit struct {
	Unit   string `json:"unit"`
	Load   string `json:"load"`
	Active string `json:"active"`
	Sub    string `json:"sub"`
}

// ParseListUnits reads the output of `systemctl list-units --all
// --type=service --output=json` into unit name → state.
func ParseListUnits(data []byte) (map[string]string, error) {
	var list []listedUnit
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, err
	}
	m := make(map[string]string, len(list))
	for _, u := range list {
		if u.Unit == "" {
			continue
		}
		m[u.Unit] = unitState(u.Active, u.Sub)
	}
	return m, nil
}

// unitState maps systemd's ACTIVE and SUB columns onto the wire's states.
func unitState(active, sub string) string {
	switch active {
	case "active", "reloading", "refreshing":
		if sub == "exited" {
			return StateExited
		}
		return StateRunning
	case "failed":
		return StateFailed
	case "activating":
		return StateStarting
	case "deactivating":
		return StateStopping
	case "maintenance":
		return StatePaused
	}
	return StateStopped
}

// RunUnits reads /run/systemd/units, where systemd keeps an
// "invocation:<unit>" link for every unit it has started and not yet
// garbage-collected: without systemctl, those units are taken as running.
func RunUnits(root fs.FS) (map[string]string, error) {
	entries, err := fs.ReadDir(root, "run/systemd/units")
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, e := range entries {
		if name, ok := strings.CutPrefix(e.Name(), "invocation:"); ok {
			m[name] = StateRunning
		}
	}
	return m, nil
}

func readLimited(root fs.FS, name string, n int64) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}
