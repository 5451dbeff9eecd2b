// Package config is the umbra-collector's configuration: flags with
// environment fallbacks, checked all at once.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/umbrasec/umbra/collector/internal/store"
)

// Defaults.
const (
	DefaultListen     = "127.0.0.1:8470"
	DefaultClickHouse = "127.0.0.1:9000"
	DefaultDatabase   = "umbra"
)

// Config is everything the collector needs to run.
type Config struct {
	// Listen is the TCP address the HTTP server binds; port 0 picks one.
	Listen string
	// AddrFile, when set, receives the server's URL once it listens.
	AddrFile string
	// Store says where ClickHouse is.
	Store store.Config
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
	// LogLevel is the least level logged.
	LogLevel slog.Level
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: %w", c.Listen, err))
	} else if port == "" {
		errs = append(errs, fmt.Errorf("listen address %q has no port", c.Listen))
	}
	if _, _, err := net.SplitHostPort(c.Store.Addr); err != nil {
		errs = append(errs, fmt.Errorf("clickhouse address %q: %w", c.Store.Addr, err))
	}
	if !store.ValidIdentifier(c.Store.Database) {
		errs = append(errs, fmt.Errorf("database name %q must be letters, digits and _ and not start with a digit", c.Store.Database))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout %s must be positive", c.ShutdownTimeout))
	}
	return errors.Join(errs...)
}

// Parse reads the command line args (without the program name), falling
// back to the environment through getenv, and validates the result. Usage
// and errors go to stderr; -h returns flag.ErrHelp.
func Parse(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("umbra-collector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	var level string
	fs.StringVar(&cfg.Listen, "listen", env("UMBRA_LISTEN", DefaultListen), "`host:port` to serve HTTP on; port 0 picks a free one (env UMBRA_LISTEN)")
	fs.StringVar(&cfg.AddrFile, "addr-file", env("UMBRA_ADDR_FILE", ""), "write the server's URL to `path` once it listens (env UMBRA_ADDR_FILE)")
	fs.StringVar(&cfg.Store.Addr, "clickhouse", env("UMBRA_CLICKHOUSE", DefaultClickHouse), "ClickHouse native protocol `host:port` (env UMBRA_CLICKHOUSE)")
	fs.StringVar(&cfg.Store.Database, "database", env("UMBRA_DATABASE", DefaultDatabase), "ClickHouse database, created if missing (env UMBRA_DATABASE)")
	fs.StringVar(&cfg.Store.Username, "clickhouse-user", env("UMBRA_CLICKHOUSE_USER", ""), "ClickHouse user (env UMBRA_CLICKHOUSE_USER; password from UMBRA_CLICKHOUSE_PASSWORD)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long a graceful shutdown may take")
	fs.StringVar(&level, "log-level", env("UMBRA_LOG_LEVEL", "info"), "least `level` logged: debug, info, warn, error (env UMBRA_LOG_LEVEL)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: umbra-collector [flags]\n\nThe Umbra collector: receives agents' reports and stores them in ClickHouse.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	cfg.Store.Password = store.Secret(getenv("UMBRA_CLICKHOUSE_PASSWORD"))
	var errs []error
	if err := cfg.LogLevel.UnmarshalText([]byte(level)); err != nil {
		errs = append(errs, fmt.Errorf("log level %q: want debug, info, warn or error", level))
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}
