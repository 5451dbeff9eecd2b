package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"

	"github.com/umbrasec/umbra/agent/internal/agent"
	"github.com/umbrasec/umbra/agent/internal/config"
	"github.com/umbrasec/umbra/agent/internal/osservice"
)

// runLoop runs the long-running agent, in a terminal or under the OS
// service manager, until ctx is done.
func runLoop(ctx context.Context, configPath, collector, stateDir, logLevel string, stderr io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", logLevel)
	}
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	if collector != "" {
		cfg.Collector = collector
	}
	if stateDir != "" {
		cfg.StateDir = stateDir
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	a, err := agent.New(cfg, log)
	if err != nil {
		return err
	}
	return osservice.Run(ctx, a.Run)
}

// loadConfig reads the configuration file: the one named, which must
// exist, or the default one if it exists, or else the defaults.
func loadConfig(path string) (config.Config, error) {
	if path != "" {
		return config.Load(path)
	}
	cfg, err := config.Load(config.DefaultPath())
	if errors.Is(err, fs.ErrNotExist) {
		return config.Default(), nil
	}
	return cfg, err
}
