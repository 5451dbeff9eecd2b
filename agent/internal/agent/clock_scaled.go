//go:build umbra_testclock

package agent

import (
	"os"
	"strconv"
)

// clockScale reads ClockScaleEnv; this file is compiled only with the
// umbra_testclock build tag, which no release build sets.
func clockScale() float64 {
	v, err := strconv.ParseFloat(os.Getenv(ClockScaleEnv), 64)
	if err != nil || v < 1 || v > 1e6 {
		return 1
	}
	return v
}
