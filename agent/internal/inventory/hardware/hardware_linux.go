package hardware

import (
	"context"
	"os"

	"github.com/umbrasec/umbra/shared/wire"
)

func collect(_ context.Context) (*wire.Hardware, []error) {
	return ReadSysFS(os.DirFS("/"))
}
