//go:build !linux && !windows && !darwin

package hardware

import (
	"context"
	"fmt"

	"errors"
	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
	"runtime"
)

func collect(_ context.Context) (*wire.Hardware, []error) {
	return nil, []error{source.Wrap(SourceDMI, fmt.Errorf("hardware on %s: %w", runtime.GOOS, errors.ErrUnsupported))}
}
