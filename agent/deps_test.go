package agent_test

import (
	"os/exec"
	"strings"
	"testing"
)

// banned are import path prefixes the agent must never depend on: it runs
// on every laptop and server and talks only to the collector.
var banned = []string{
	"github.com/ClickHouse/", // the store belongs to the collector
}

// TestDependencies fails when a banned package creeps into the agent,
// through its code or its tests.
func TestDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("finding the go command: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), goBin, "list", "-deps", "-test", "./...")
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps -test ./...: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list -deps -test ./...: %v", err)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 10 {
		t.Fatalf("go list listed %d packages, want the agent's dependencies", len(pkgs))
	}
	for _, p := range pkgs {
		for _, b := range banned {
			if strings.Contains(strings.ToLower(p), strings.ToLower(b)) {
				t.Errorf("the agent depends on %s (banned: %s)", p, b)
			}
		}
	}
}
