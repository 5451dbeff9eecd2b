package sweep

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/target"
	"github.com/umbrasec/umbra/agent/internal/discovery/testbed"
)

// TestSweepLeak runs 1,000 start/cancel cycles of a sweep of loopback
// addresses (nothing leaves this machine): TCP, and ICMP when this process
// may open a raw socket.
func TestSweepLeak(t *testing.T) {
	set, err := target.Parse([]string{"127.0.0.1-127.0.0.4"}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := Fast
	p.Ports = []int{1, 2, 3}
	testbed.Leaks(t, 1000, 2*time.Millisecond, func(ctx context.Context) {
		s := New(p)
		s.noICMP = os.Geteuid() != 0
		s.Sweep(ctx, set, nil)
	})
}

// TestSweepLeakIntegration runs the leak test on the simulated office
// network, where the sweep opens raw ARP and ICMP sockets.
func TestSweepLeakIntegration(t *testing.T) {
	n := testbed.Up(t, 0)
	n.RunInScanner(t, "TestSweepLeakInScanner")
}

func TestSweepLeakInScanner(t *testing.T) {
	n := testbed.Child(t)
	set, err := target.Parse(n.Subnets, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	testbed.Leaks(t, 1000, 3*time.Millisecond, func(ctx context.Context) {
		New(Fast).Sweep(ctx, set, nil)
	})
}
