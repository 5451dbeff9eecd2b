package agent

import (
	"time"

	"github.com/umbrasec/umbra/agent/internal/config"
)

// ClockScaleEnv names the environment variable that speeds up the agent's
// schedules in a test build (go build -tags umbra_testclock): with 3600,
// an hour of inventories and heartbeats passes in a second. Ordinary
// builds ignore it (clock_real.go).
const ClockScaleEnv = "UMBRA_TEST_CLOCK_SCALE"

// scaleSchedules divides the schedule intervals of cfg by scale: the
// inventories, deltas, heartbeats and start delay. Delivery retries and
// timeouts keep real time: they pace a real network and a real collector.
func scaleSchedules(cfg config.Config, scale float64) config.Config {
	if scale <= 1 {
		return cfg
	}
	div := func(d time.Duration) time.Duration {
		if d <= 0 {
			return d
		}
		return max(time.Duration(float64(d)/scale), time.Millisecond)
	}
	cfg.InventoryInterval = div(cfg.InventoryInterval)
	cfg.DeltaInterval = div(cfg.DeltaInterval)
	cfg.HeartbeatInterval = div(cfg.HeartbeatInterval)
	cfg.StartDelay = div(cfg.StartDelay)
	return cfg
}
