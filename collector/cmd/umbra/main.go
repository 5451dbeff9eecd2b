// Command umbra is the administrator's command line for an Umbra collector.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/umbrasec/umbra/collector/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
