package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/umbrasec/umbra/agent/internal/config"
	"github.com/umbrasec/umbra/agent/internal/inventory"
	"github.com/umbrasec/umbra/agent/internal/state"
	"github.com/umbrasec/umbra/agent/internal/uplink"
	"github.com/umbrasec/umbra/shared/version"
	"github.com/umbrasec/umbra/shared/wire"
)

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "run [--config FILE] [--collector URL] [--state-dir DIR] [--log-level info]\n       umbra-agent run --once --collector URL [--state-dir DIR] [--timeout 30s]", stderr)
	once := fs.Bool("once", false, "send one inventory report and exit")
	configPath := fs.String("config", "", "configuration `file` (default "+config.DefaultPath()+", where it exists)")
	collector := fs.String("collector", "", "collector base `URL`, e.g. https://collector.example:8443")
	stateDir := fs.String("state-dir", "", "`folder` of the agent's state: its agent id and spool (default "+state.DefaultDir()+")")
	timeout := fs.Duration("timeout", 30*time.Second, "with --once: give up after this long, retries included")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !*once {
		return runLoop(ctx, *configPath, *collector, *stateDir, *logLevel, stderr)
	}
	if *stateDir == "" {
		*stateDir = state.DefaultDir()
	}
	if *collector == "" {
		return usagef("--collector is required")
	}
	if *timeout <= 0 {
		return usagef("--timeout must be positive, not %v", *timeout)
	}
	client, err := uplink.New(*collector, nil, uplink.WithStateDir(*stateDir))
	if err != nil {
		return &usageError{msg: err.Error()}
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	agentID, err := state.AgentID(*stateDir)
	if err != nil {
		return err
	}
	inv, err := inventory.Collect(ctx)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	rep := &wire.Report{
		Schema:       wire.Schema,
		ID:           uuid.NewString(),
		Kind:         wire.KindInventory,
		AgentID:      agentID,
		AgentVersion: version.Version,
		CreatedAt:    now,
		Inventory:    inv,
	}
	if err := rep.Validate(wire.DefaultLimits, now); err != nil {
		return fmt.Errorf("not sending report %s: %w", rep.ID, err)
	}
	sent, err := sendReport(ctx, client, rep, "run", stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sent inventory report %s (%d bytes)\n", rep.ID, sent.Bytes)
	return nil
}
