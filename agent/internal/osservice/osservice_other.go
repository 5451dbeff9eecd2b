//go:build !linux && !darwin && !windows

package osservice

import "runtime"

func goos() string { return runtime.GOOS }

func afterInstall(Options) error { return nil }
