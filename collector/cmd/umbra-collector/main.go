// Command umbra-collector receives Umbra agents' reports and stores them in
// ClickHouse.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
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
	if err := server.Run(ctx, cfg, logger); err != nil {
		logger.Error("collector stopped", "error", err)
		stop()
		os.Exit(1)
	}
}
