package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/umbrasec/umbra/agent/internal/inventory"
	"github.com/umbrasec/umbra/agent/internal/state"
	"github.com/umbrasec/umbra/agent/internal/uplink"
)

// runEnroll exchanges an enrolment secret for this agent's credential and
// keeps it, with the pinned collector CA, in the state folder.
func runEnroll(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("enroll", "enroll --collector URL --ca-fingerprint sha256:… (--secret S | --secret-file FILE | env UMBRA_ENROLL_SECRET) [--state-dir DIR]", stderr)
	collector := fs.String("collector", "", "collector base `URL`, e.g. https://collector.example:8470")
	pin := fs.String("ca-fingerprint", "", "`sha256:…` fingerprint of the collector's CA, as umbra-collector printed it; only that CA is trusted")
	secret := fs.String("secret", "", "enrolment `secret` (visible to other users in ps: prefer --secret-file or env UMBRA_ENROLL_SECRET)")
	secretFile := fs.String("secret-file", "", "read the enrolment secret from `file`")
	stateDir := fs.String("state-dir", "", "`folder` of the agent's state (default "+state.DefaultDir()+")")
	insecure := fs.Bool("insecure-http", false, "allow a plain http:// collector (tests only: the secret and credential cross the network in clear text)")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *stateDir == "" {
		*stateDir = state.DefaultDir()
	}
	if *collector == "" {
		return usagef("--collector is required")
	}
	if *pin == "" && !strings.HasPrefix(*collector, "http://") {
		return usagef("--ca-fingerprint is required: it is printed by umbra-collector at start and kept in its state folder as ca.fingerprint")
	}
	s := *secret
	switch {
	case *secretFile != "":
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return fmt.Errorf("reading the secret: %w", err)
		}
		s = string(b)
	case s == "":
		s = os.Getenv("UMBRA_ENROLL_SECRET")
	}
	if strings.TrimSpace(s) == "" {
		return usagef("an enrolment secret is required: --secret-file, env UMBRA_ENROLL_SECRET or --secret")
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	agentID, err := state.AgentID(*stateDir)
	if err != nil {
		return err
	}
	req := uplink.EnrollRequest{AgentID: agentID, OS: runtime.GOOS}
	if inv, err := inventory.Collect(ctx); err == nil && inv != nil {
		req.HostID, req.Hostname = inv.Host.HostID, inv.Host.Hostname
		if inv.OS.Platform != "" {
			req.OS = strings.TrimSpace(inv.OS.Platform + " " + inv.OS.Version)
		}
	} else if err != nil && ctx.Err() != nil {
		return err
	}
	if req.Hostname == "" {
		req.Hostname, _ = os.Hostname()
	}
	e, err := uplink.Enroll(ctx, *collector, s, *pin, *insecure, req)
	if err != nil {
		return err
	}
	if e.AgentID != agentID {
		// The collector knows this machine under another id (it was
		// enrolled before, or this id came with a copied disk image).
		if err := replaceAgentID(*stateDir, e.AgentID); err != nil {
			return err
		}
	}
	if err := e.Save(*stateDir); err != nil {
		return err
	}
	how := "enrolled"
	if e.Reenrolled {
		how = "enrolled again (same host)"
	}
	fmt.Fprintf(stdout, "%s with %s as agent %s; credential kept in %s\n", how, e.Collector, e.AgentID, filepath.Join(*stateDir, uplink.EnrollmentFile))
	return nil
}

// replaceAgentID writes the agent id the collector assigned over the local
// one, atomically and readable only by the owner.
func replaceAgentID(dir, id string) error {
	if err := state.WritePrivate(filepath.Join(dir, "agent-id"), []byte(id+"\n")); err != nil {
		return fmt.Errorf("saving agent id: %w", err)
	}
	if got, err := state.AgentID(dir); err != nil || got != id {
		return fmt.Errorf("saving agent id: read back %q, %v", got, err)
	}
	return nil
}
