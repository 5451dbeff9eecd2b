// Package config is the agent's configuration: one typed Config read
// strictly from a YAML file (JSON, being YAML, works too).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/umbrasec/umbra/agent/internal/state"
	"gopkg.in/yaml.v3"
)

// Config is everything an agent is told.
type Config struct {
	// Collector is the collector's base URL, e.g. https://collector:8443.
	Collector string `yaml:"collector"`
	// StateDir holds the agent id and the spool.
	StateDir string `yaml:"state_dir"`

	// InventoryInterval is how often a full inventory is sent (one is also
	// sent at start).
	InventoryInterval time.Duration `yaml:"inventory_interval"`
	// Delta turns on software deltas: between full inventories (one at
	// start, then every InventoryInterval) the agent sends an inventory
	// every DeltaInterval whose software is only the change since the last
	// inventory the collector accepted. Off by default: set it only for a
	// collector that understands deltas (software_delta in the report).
	Delta bool `yaml:"delta"`
	// DeltaInterval is how often a delta inventory is sent when Delta is on.
	DeltaInterval time.Duration `yaml:"delta_interval"`
	// HeartbeatInterval is how often the agent checks in with a heartbeat
	// (POST /api/v1/heartbeat, never spooled): its version, uptime and
	// spool depth, which the collector shows as its last contact; the
	// answer carries the trusted networks, where it may scan.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// Jitter spreads every interval by up to this fraction either way, so
	// that ten thousand agents never arrive together.
	Jitter float64 `yaml:"jitter"`
	// StartDelay is the longest random wait before the first inventory
	// after start (all agents booting at 9:00 must not collide).
	StartDelay time.Duration `yaml:"start_delay"`

	// RetryMin and RetryMax bound the pause between delivery attempts while
	// the collector is unreachable (doubled each failure, with jitter).
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// SendTimeout bounds one delivery, its quick retries included.
	SendTimeout time.Duration `yaml:"send_timeout"`

	// SpoolMaxBytes bounds the on-disk outbox.
	SpoolMaxBytes Bytes `yaml:"spool_max_bytes"`
	// MemoryLimit is the Go runtime's soft memory limit (0: none).
	MemoryLimit Bytes `yaml:"memory_limit"`
	// Nice lowers the agent's CPU priority (0 to 19; Unix nice value, on
	// Windows any value above 0 means below-normal priority).
	Nice int `yaml:"nice"`
}

// Default returns the configuration an empty file means.
func Default() Config {
	return Config{
		StateDir:          state.DefaultDir(),
		InventoryInterval: 24 * time.Hour,
		DeltaInterval:     time.Hour,
		HeartbeatInterval: 5 * time.Minute,
		Jitter:            0.1,
		StartDelay:        time.Minute,
		RetryMin:          5 * time.Second,
		RetryMax:          2 * time.Minute,
		SendTimeout:       2 * time.Minute,
		SpoolMaxBytes:     64 << 20,
		MemoryLimit:       64 << 20,
		Nice:              10,
	}
}

// DefaultPath is the configuration file of an agent installed as a service
// on this OS.
func DefaultPath() string { return defaultPath(runtime.GOOS, os.Getenv) }

func defaultPath(goos string, getenv func(string) string) string {
	switch goos {
	case "windows":
		base := getenv("ProgramData")
		if base == "" {
			base = `C:\ProgramData`
		}
		return base + `\Umbra\agent.yaml`
	case "darwin":
		return "/Library/Application Support/Umbra/agent.yaml"
	default:
		return "/etc/umbra/agent.yaml"
	}
}

// Load reads the file at path over the defaults. The caller applies its
// overrides (command-line flags) and then calls Validate.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := Parse(b)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse reads a configuration over the defaults, rejecting unknown keys.
// The caller calls Validate.
func Parse(b []byte) (Config, error) {
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Config{}, errors.New("more than one YAML document")
	}
	return cfg, nil
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Collector == "" {
		add("collector: missing")
	} else if u, err := url.Parse(c.Collector); err != nil {
		add("collector: %v", err)
	} else if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		add("collector: %q: want http:// or https:// and a host", c.Collector)
	}
	if c.StateDir == "" {
		add("state_dir: missing")
	}
	positive := func(name string, d, least time.Duration) {
		if d < least {
			add("%s: %v is shorter than %v", name, d, least)
		}
	}
	positive("inventory_interval", c.InventoryInterval, time.Millisecond)
	positive("heartbeat_interval", c.HeartbeatInterval, time.Millisecond)
	if c.Delta {
		positive("delta_interval", c.DeltaInterval, time.Millisecond)
		if c.DeltaInterval > c.InventoryInterval {
			add("delta_interval: %v is longer than inventory_interval (%v): no delta would ever be sent", c.DeltaInterval, c.InventoryInterval)
		}
	}
	positive("retry_min", c.RetryMin, time.Millisecond)
	positive("send_timeout", c.SendTimeout, time.Millisecond)
	if c.RetryMax < c.RetryMin {
		add("retry_max: %v is shorter than retry_min (%v)", c.RetryMax, c.RetryMin)
	}
	if c.StartDelay < 0 {
		add("start_delay: %v is negative", c.StartDelay)
	}
	if c.Jitter < 0 || c.Jitter > 0.5 {
		add("jitter: %v is outside 0 to 0.5", c.Jitter)
	}
	if c.SpoolMaxBytes < 1<<20 {
		add("spool_max_bytes: %v is less than 1MiB", c.SpoolMaxBytes)
	}
	if c.MemoryLimit != 0 && c.MemoryLimit < 16<<20 {
		add("memory_limit: %v is less than 16MiB (0 means no limit)", c.MemoryLimit)
	}
	if c.Nice < 0 || c.Nice > 19 {
		add("nice: %d is outside 0 to 19", c.Nice)
	}
	return errors.Join(errs...)
}

// Bytes is a size, written in YAML as a number of bytes or with a unit:
// 64MiB, 512KiB, 1GiB, 10MB.
type Bytes int64

var units = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

// ParseBytes reads a size such as 64MiB.
func ParseBytes(s string) (Bytes, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size such as 1048576, 512KiB or 64MiB", s)
	}
	return Bytes(n * mult), nil
}

// UnmarshalYAML reads a number or a string with a unit.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a size such as 64MiB", n.Line)
	}
	v, err := ParseBytes(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

func (b Bytes) String() string {
	for _, u := range units[:3] {
		if b >= Bytes(u.mult) && int64(b)%u.mult == 0 && (u.suffix == "GiB" || int64(b) < u.mult<<10) {
			return strconv.FormatInt(int64(b)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}
