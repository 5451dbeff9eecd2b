package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/umbrasec/umbra/agent/internal/state"
	"github.com/umbrasec/umbra/agent/internal/uplink"
	"github.com/umbrasec/umbra/shared/version"
	"github.com/umbrasec/umbra/shared/wire"
)

// A scan runs where the collector may be out of reach (a network
// namespace, an isolated segment): `scan --out FILE` saves the discovery
// as a complete report, and `send FILE` posts it later from where the
// collector is reachable. The report keeps its id, so sending it twice
// stores it once.

// discoveryReport wraps d in a report of this agent (its id from
// stateDir) and checks it as the collector would.
func discoveryReport(stateDir string, d wire.Discovery, now time.Time) (*wire.Report, error) {
	agentID, err := state.AgentID(stateDir)
	if err != nil {
		return nil, err
	}
	rep := &wire.Report{
		Schema:       wire.Schema,
		ID:           uuid.NewString(),
		Kind:         wire.KindDiscovery,
		AgentID:      agentID,
		AgentVersion: version.Version,
		CreatedAt:    now.UTC(),
		Discovery:    &d,
	}
	if err := rep.Validate(wire.DefaultLimits, now); err != nil {
		return nil, fmt.Errorf("report %s: %w", rep.ID, err)
	}
	return rep, nil
}

// writeReport writes rep as JSON to path, atomically: a reader never sees
// half a report.
func writeReport(path string, rep *wire.Report) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".umbra-report-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// saveScan writes d as a discovery report to path.
func saveScan(path, stateDir string, d wire.Discovery) error {
	if stateDir == "" {
		stateDir = state.DefaultDir()
	}
	rep, err := discoveryReport(stateDir, d, time.Now())
	if err != nil {
		return fmt.Errorf("--out %s: %w", path, err)
	}
	if err := writeReport(path, rep); err != nil {
		return fmt.Errorf("--out %s: %w", path, err)
	}
	return nil
}

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("send", "send FILE --collector URL [--state-dir DIR] [--timeout 30s]", stderr)
	collector := fs.String("collector", "", "collector base `URL`, e.g. https://collector.example:8443")
	stateDir := fs.String("state-dir", "", "`folder` of the agent's state: its credential and pinned CA (default "+state.DefaultDir()+")")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long, retries included")
	// The file and the flags may come in any order.
	files, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return usagef("give exactly one report file (written by 'umbra-agent scan --out FILE')")
	}
	if *collector == "" {
		return usagef("--collector is required")
	}
	if *timeout <= 0 {
		return usagef("--timeout must be positive, not %v", *timeout)
	}
	if *stateDir == "" {
		*stateDir = state.DefaultDir()
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	// Checked as the collector will check it, before anything is sent.
	rep, err := wire.Decode(bytes.NewReader(data), wire.DefaultLimits, time.Now())
	if err != nil {
		return fmt.Errorf("%s: %w", files[0], err)
	}
	client, err := uplink.New(*collector, nil, uplink.WithStateDir(*stateDir))
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	sent, err := sendReport(ctx, client, rep, "send", stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sent %s report %s (%d bytes)\n", rep.Kind, rep.ID, sent.Bytes)
	return nil
}

// sendReport sends rep through client. A final refusal (4xx but 429) is
// said as the collector said it, every problem on its own line, under the
// name of the command, and returns errReported.
func sendReport(ctx context.Context, client *uplink.Client, rep *wire.Report, command string, stderr io.Writer) (uplink.Sent, error) {
	sent, err := client.Send(ctx, rep)
	if err != nil {
		var refused *uplink.RefusedError
		if errors.As(err, &refused) && refused.Code/100 == 4 && refused.Code != 429 {
			fmt.Fprintf(stderr, "umbra-agent %s: %v\n", command, refused)
			for _, p := range refused.Problem.Problems {
				if p != refused.Problem.Error {
					fmt.Fprintf(stderr, "  %s\n", p)
				}
			}
			return uplink.Sent{}, errReported
		}
		return uplink.Sent{}, err
	}
	return sent, nil
}
