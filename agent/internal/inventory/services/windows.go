package services

import (
	"strings"

	"github.com/umbrasec/umbra/shared/wire"
)

// WinService is what the Windows fetcher reads of one service from the
// service control manager (QueryServiceConfig and QueryServiceStatus);
// the numbers are the Win32 constants.
type WinService struct {
	Name             string
	DisplayName      string
	BinaryPathName   string
	ServiceStartName string
	StartType        uint32 // SERVICE_AUTO_START 2, DEMAND 3, DISABLED 4, BOOT 0, SYSTEM 1
	DelayedAutoStart bool
	State            uint32 // SERVICE_STOPPED 1 … SERVICE_PAUSED 7
}

// FromWindows turns a service control manager row into a service.
func FromWindows(w WinService) wire.Service {
	s := wire.Service{Name: w.Name, DisplayName: w.DisplayName, Manager: "windows", Path: windowsExecutable(w.BinaryPathName), User: w.ServiceStartName}
	switch w.StartType {
	case 0, 1, 2:
		s.StartMode = ModeAuto
	case 3:
		s.StartMode = ModeManual
	case 4:
		s.StartMode = ModeDisabled
	}
	switch w.State {
	case 1:
		s.State = StateStopped
	case 2:
		s.State = StateStarting
	case 3:
		s.State = StateStopping
	case 4:
		s.State = StateRunning
	case 5, 6:
		s.State = "resuming"
		if w.State == 6 {
			s.State = "pausing"
		}
	case 7:
		s.State = StatePaused
	}
	return s
}

// windowsExecutable returns the program of an ImagePath: the quoted path,
// or the text up to the first ".exe" (unquoted paths may hold spaces).
func windowsExecutable(cmd string) string {
	cmd = strings.TrimSpace(cmd)
	if strings.HasPrefix(cmd, `"`) {
		if end := strings.IndexByte(cmd[1:], '"'); end >= 0 {
			return cmd[1 : end+1]
		}
		return cmd[1:]
	}
	if i := strings.Index(strings.ToLower(cmd), ".exe"); i >= 0 {
		return cmd[:i+4]
	}
	if i := strings.IndexByte(cmd, ' '); i >= 0 {
		return cmd[:i]
	}
	return cmd
}
