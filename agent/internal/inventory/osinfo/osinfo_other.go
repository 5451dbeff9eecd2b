//go:build !linux && !windows && !darwin

package osinfo

import "context"

func collect(context.Context) (Info, []error) { return Info{}, nil }
