package config

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	env := map[string]string{"UMBRA_CLICKHOUSE": "127.0.0.1:19000", "UMBRA_CLICKHOUSE_PASSWORD": "hunter2"}
	getenv := func(k string) string { return env[k] }
	var stderr bytes.Buffer
	cfg, err := Parse([]string{"--listen", "127.0.0.1:0", "--addr-file", "/tmp/x", "--log-level", "debug"}, getenv, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:0" || cfg.AddrFile != "/tmp/x" || cfg.Store.Addr != "127.0.0.1:19000" ||
		cfg.Store.Database != DefaultDatabase || cfg.LogLevel != slog.LevelDebug || cfg.ShutdownTimeout != 15*time.Second {
		t.Errorf("Parse = %+v", cfg)
	}
	if string(cfg.Store.Password) != "hunter2" {
		t.Error("password not read from the environment")
	}
	if s := cfg.Store.Password.String(); s != "[redacted]" {
		t.Errorf("password prints as %q", s)
	}
	// Flags win over the environment.
	cfg, err = Parse([]string{"--clickhouse", "127.0.0.1:9999"}, getenv, &stderr)
	if err != nil || cfg.Store.Addr != "127.0.0.1:9999" || cfg.Listen != DefaultListen {
		t.Errorf("Parse with --clickhouse = %+v, %v", cfg, err)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	var stderr bytes.Buffer
	_, err := Parse([]string{"--listen", "nonsense", "--clickhouse", "nohost", "--database", "x; DROP", "--shutdown-timeout", "0s", "--log-level", "loud"},
		func(string) string { return "" }, &stderr)
	if err == nil {
		t.Fatal("Parse accepted a bad config")
	}
	for _, want := range []string{"listen address", "clickhouse address", "database name", "shutdown timeout", "log level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := Parse([]string{"-h"}, func(string) string { return "" }, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("Parse(-h) = %v, want flag.ErrHelp", err)
	}
	if _, err := Parse([]string{"stray"}, func(string) string { return "" }, &stderr); err == nil {
		t.Error("Parse accepted a stray argument")
	}
}
