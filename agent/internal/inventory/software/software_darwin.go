package software

import (
	"context"
	"os"

	"github.com/umbrasec/umbra/shared/wire"
)

func collect(ctx context.Context) ([]wire.Package, []error) {
	return CollectFS(ctx, os.DirFS("/"), MacSources)
}
