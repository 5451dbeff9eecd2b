package hardware

import (
	"context"
	"os/exec"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

func collect(ctx context.Context) (*wire.Hardware, []error) {
	args := append([]string{"-xml"}, ProfilerTypes...)
	out, err := exec.CommandContext(ctx, "/usr/sbin/system_profiler", args...).Output()
	if err != nil {
		return nil, []error{source.Errorf(SourceDMI, "system_profiler: %w", err)}
	}
	hw, err := ParseSystemProfiler(out)
	if err != nil {
		return nil, []error{source.Errorf(SourceDMI, "system_profiler output: %w", err)}
	}
	return hw, nil
}
