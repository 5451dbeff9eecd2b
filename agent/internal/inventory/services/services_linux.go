package services

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

func collect(ctx context.Context) ([]wire.Service, []error) {
	root := os.DirFS("/")
	states, err := systemdStates(ctx)
	if err != nil {
		var e2 error
		if states, e2 = RunUnits(root); e2 != nil {
			states = nil
		}
	}
	out, errs := Linux(root, states)
	if err != nil && states == nil && len(out) > 0 {
		errs = append(errs, source.Wrap(SourceState, err))
	}
	return out, errs
}

// systemdStates asks systemctl for the state of every loaded service.
func systemdStates(ctx context.Context) (map[string]string, error) {
	// systemd is the running init exactly when this folder exists
	// (sd_booted(3)); asking systemctl otherwise only costs a process.
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return nil, fmt.Errorf("systemd is not the running init (no /run/systemd/system), services' running state unknown: %w", source.ErrUnavailable)
	}
	bin, err := exec.LookPath("systemctl")
	if err != nil {
		return nil, fmt.Errorf("no systemctl, services' running state unknown: %w", source.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "list-units", "--all", "--type=service", "--output=json", "--no-pager", "--plain").Output()
	if err != nil {
		// Not booted with systemd (a container) or no bus: the state is
		// unavailable rather than broken.
		return nil, fmt.Errorf("systemctl list-units failed (%v; systemd not running?), services' running state unknown: %w", err, source.ErrUnavailable)
	}
	return ParseListUnits(out)
}
