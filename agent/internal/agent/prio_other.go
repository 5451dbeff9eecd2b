//go:build !linux && !darwin && !windows

package agent

import "errors"

func lowerPriority(int) error { return errors.ErrUnsupported }
