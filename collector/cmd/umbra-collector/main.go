// Command umbra-collector receives Umbra agents' reports and stores them in
// ClickHouse.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"

	"github.com/umbrasec/umbra/collector/internal/config"
	"github.com/umbrasec/umbra/collector/internal/server"
)

func main() {
	cfg, err := config.Parse(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "umbra-collector:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Command == config.CommandBootstrapToken {
		if err := server.Bootstrap(ctx, cfg, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "umbra-collector bootstrap-token:", err)
			stop()
			os.Exit(1)
		}
		return
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if addr := os.Getenv("UMBRA_PPROF_ADDR"); addr != "" {
		if err := servePprof(addr, logger); err != nil {
			logger.Error("pprof", "error", err)
			os.Exit(2)
		}
	}
	if err := server.Run(ctx, cfg, logger); err != nil {
		logger.Error("collector stopped", "error", err)
		stop()
		os.Exit(1)
	}
}

// servePprof serves the Go profiler on addr, a loopback address, for
// profiling the collector under load (UMBRA_PPROF_ADDR=127.0.0.1:6060).
func servePprof(addr string, logger *slog.Logger) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("UMBRA_PPROF_ADDR %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("UMBRA_PPROF_ADDR %q is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("UMBRA_PPROF_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	logger.Warn("profiler listening", "addr", ln.Addr().String())
	go func() { _ = http.Serve(ln, mux) }() //nolint:gosec // loopback, debug only
	return nil
}
