//go:build !linux && !windows && !darwin

package services

import (
	"context"
	"errors"

	"github.com/umbrasec/umbra/shared/wire"
)

func collect(context.Context) ([]wire.Service, []error) {
	return nil, []error{errors.ErrUnsupported}
}
