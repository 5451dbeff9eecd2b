package services

import (
	"bufio"
	"bytes"
	"path"
	"strconv"
	"strings"

	"github.com/umbrasec/umbra/agent/internal/inventory/plist"
	"github.com/umbrasec/umbra/shared/wire"
)

// LaunchdDirs are the folders of system-wide launchd jobs: daemons run as
// root (or UserName) at boot, agents in every user's session.
var LaunchdDirs = []string{
	"Library/LaunchDaemons",
	"System/Library/LaunchDaemons",
	"Library/LaunchAgents",
}

// Launchd builds a service from a launchd job's property list, found at
// file. disabled holds the overrides of launchctl enable/disable (the
// disabled.plist of /var/db/com.apple.xpc.launchd), and states the
// running jobs (ParseLaunchctlList); either may be nil.
func Launchd(data []byte, file string, disabled map[string]bool, states map[string]string) (wire.Service, error) {
	d, err := plist.Dict(data)
	if err != nil {
		return wire.Service{}, err
	}
	label := plist.String(d, "Label")
	if label == "" {
		label = strings.TrimSuffix(path.Base(file), ".plist")
	}
	s := wire.Service{Name: label, Manager: "launchd", Path: plist.String(d, "Program"), User: plist.String(d, "UserName")}
	if s.Path == "" {
		if args, ok := d["ProgramArguments"].([]any); ok && len(args) > 0 {
			s.Path, _ = args[0].(string)
		}
	}
	if s.Path == "" {
		s.Path = file
	}
	if s.User == "" && strings.Contains(file, "LaunchDaemons") {
		s.User = "root"
	}
	off, _ := d["Disabled"].(bool)
	if o, ok := disabled[label]; ok {
		off = o
	}
	runAtLoad, _ := d["RunAtLoad"].(bool)
	_, keepAlive := d["KeepAlive"]
	if ka, ok := d["KeepAlive"].(bool); ok && !ka {
		keepAlive = false
	}
	switch {
	case off:
		s.StartMode = ModeDisabled
	case runAtLoad || keepAlive:
		s.StartMode = ModeAuto
	default:
		s.StartMode = ModeManual // on demand: a socket, a path, a timer
	}
	if states != nil {
		s.State = StateStopped
		if st, ok := states[label]; ok {
			s.State = st
		}
	}
	return s, nil
}

// ParseLaunchctlList reads the output of `launchctl list` (PID, last exit
// status and label, tab-separated, under a header) into label → state: a
// job with a PID is running, one that exited with a non-zero status
// failed, any other is stopped.
func ParseLaunchctlList(out []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 || f[0] == "PID" {
			continue
		}
		label := strings.TrimSpace(f[2])
		switch {
		case label == "":
		case f[0] != "-":
			m[label] = StateRunning
		case f[1] != "0" && f[1] != "-" && isInt(f[1]):
			m[label] = StateFailed
		default:
			m[label] = StateStopped
		}
	}
	return m
}

func isInt(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// LaunchdDisabled reads launchd's disabled.plist: label → disabled.
func LaunchdDisabled(data []byte) map[string]bool {
	d, err := plist.Dict(data)
	if err != nil {
		return nil
	}
	m := make(map[string]bool, len(d))
	for k, v := range d {
		if b, ok := v.(bool); ok {
			m[k] = b
		}
	}
	return m
}
