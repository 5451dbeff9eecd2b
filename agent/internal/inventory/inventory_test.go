package inventory

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// TestCollectThisHost reads the real host and checks that the result is a
// report the collector accepts.
func TestCollectThisHost(t *testing.T) {
	inv, err := Collect(t.Context())
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if inv.Host.Hostname == "" || inv.OS.Family == "" || !inv.Full {
		t.Errorf("Collect() = %+v, want hostname, OS family and Full", inv)
	}
	for _, e := range inv.Errors {
		t.Logf("source error: %+v", e)
	}
	now := time.Now()
	rep := &wire.Report{Schema: wire.Schema, ID: "0b6f1c2e-1d7a-4f0e-9b51-0c2a2f9f4c11", Kind: wire.KindInventory,
		AgentID: "7d9e4a52-3b1c-4f7e-8a6d-2e5f1b0c9d84", AgentVersion: "test", CreatedAt: now, Inventory: inv}
	if err := rep.Validate(wire.DefaultLimits, now); err != nil {
		t.Errorf("inventory of this host does not validate: %v", err)
	}
}

func TestCollectCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Collect(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Collect(cancelled) error = %v, want context.Canceled", err)
	}
}
