package osservice

import "github.com/kardianos/service"

// On Linux the agent is a systemd service, or a SysV init script where
// there is no systemd: not upstart, OpenRC, rcS or procd.
func init() {
	var keep []service.System
	for _, s := range service.AvailableSystems() {
		if n := s.String(); n == "linux-systemd" || n == "unix-systemv" {
			keep = append(keep, s)
		}
	}
	if len(keep) > 0 {
		service.ChooseSystem(keep...)
	}
}

func goos() string { return "linux" }

func afterInstall(Options) error { return nil }
