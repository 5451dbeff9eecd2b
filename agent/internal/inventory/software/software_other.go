//go:build !linux && !darwin && !windows

package software

import (
	"context"
	"os"

	"github.com/umbrasec/umbra/shared/wire"
)

// collect reads whatever Unix package databases exist (a FreeBSD host with
// Linux compatibility, a Homebrew prefix).
func collect(ctx context.Context) ([]wire.Package, []error) {
	return CollectFS(ctx, os.DirFS("/"), append(LinuxSources, wire.SourceHomebrew))
}
