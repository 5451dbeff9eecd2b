//go:build !umbra_testclock

package agent

// clockScale is 1 in every real build: schedules run in real time.
func clockScale() float64 { return 1 }
