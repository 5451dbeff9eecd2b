package snmp

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/testbed"
)

// TestProbeLeak runs 1,000 start/cancel cycles of ProbeAll against an
// agent on loopback that answers, one that never does, and an address
// where nothing listens.
func TestProbeLeak(t *testing.T) {
	good := startFakeAgent(t, "127.0.0.1", 0, "")
	startFakeAgent(t, "127.0.0.2", good.port(), "silent-walks")
	p := New(Options{Credentials: []Credential{Community("wrong"), Community("public")}, Port: uint16(good.port()),
		Timeout: 50 * time.Millisecond, Retries: 0})
	addrs := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}
	testbed.Leaks(t, 1000, 3*time.Millisecond, func(ctx context.Context) {
		p.ProbeAll(ctx, addrs)
	})
}

// TestWalkLeak runs 1,000 start/cancel cycles of Walk, with its two
// sessions and the columns of a table read side by side, against an agent
// that answers and one that stops answering.
func TestWalkLeak(t *testing.T) {
	good := startFakeAgentMIB(t, "127.0.0.1", 0, "ok", tableMIB(40), 100)
	startFakeAgentMIB(t, "127.0.0.2", good.port(), "silent-walks", tableMIB(40), 100)
	p := New(Options{Port: uint16(good.port()), Timeout: 50 * time.Millisecond, Retries: 0})
	testbed.Leaks(t, 1000, 2*time.Millisecond, func(ctx context.Context) {
		for _, a := range []string{"127.0.0.1", "127.0.0.2"} {
			p.Walk(ctx, netip.MustParseAddr(a), Community("public"), []string{"1.3.6.1.2.1.2.2"}, func(Record) error { return nil })
		}
	})
}
