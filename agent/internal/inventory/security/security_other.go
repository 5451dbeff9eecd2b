//go:build !linux && !windows && !darwin

package security

import (
	"context"
	"errors"

	"github.com/umbrasec/umbra/shared/wire"
)

func collect(context.Context) (*wire.Security, []error) {
	return nil, []error{errors.ErrUnsupported}
}
