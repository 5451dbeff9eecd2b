package services

import (
	"context"
	"os"
	"os/exec"
	"time"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

func collect(ctx context.Context) ([]wire.Service, []error) {
	var errs []error
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var states map[string]string
	// As root, launchctl list shows the system domain: the daemons.
	out, err := exec.CommandContext(tctx, "/bin/launchctl", "list").Output()
	if err != nil {
		errs = append(errs, source.Errorf(SourceState, "launchctl list: %w", err))
	} else {
		states = ParseLaunchctlList(out)
	}
	list, e := Darwin(os.DirFS("/"), states)
	return list, append(errs, e...)
}
