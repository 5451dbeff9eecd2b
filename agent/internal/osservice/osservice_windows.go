package osservice

import (
	"fmt"

	"golang.org/x/sys/windows/svc/mgr"
)

func goos() string { return "windows" }

// afterInstall sets what the library leaves to chance: the command line
// with the executable path always quoted (an unquoted path with spaces is a
// privilege-escalation hole), and recovery on failures that end with an
// error exit as well as on crashes.
func afterInstall(opts Options) error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(Name)
	if err != nil {
		return err
	}
	defer s.Close()
	cfg, err := s.Config()
	if err != nil {
		return err
	}
	cfg.BinaryPathName = windowsCommandLine(opts.Executable, serviceConfig(opts, "windows").Arguments)
	if err := s.UpdateConfig(cfg); err != nil {
		return fmt.Errorf("setting the quoted command line: %w", err)
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return fmt.Errorf("setting recovery on failure exits: %w", err)
	}
	return nil
}
