package sweep

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// The connects of the platform (one epoll loop on Linux) and the dialer
// per probe (elsewhere, and on Linux where epoll cannot be had) tell an
// open port from a closed one on loopback alike.
func TestConnectAllMatchesDial(t *testing.T) {
	open := listenLoopback(t)
	// A port that was just free: nothing listens, the kernel resets.
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l2.Addr().(*net.TCPAddr).Port
	l2.Close()
	lo := netip.MustParseAddr("127.0.0.1")
	probes := []tcpProbe{{lo, open}, {lo, closed}}
	run := func(connect func(context.Context, []tcpProbe, time.Duration, func(tcpProbe, bool, time.Duration), func())) []string {
		var got []string
		sent := 0
		connect(t.Context(), probes, 2*time.Second, func(p tcpProbe, isOpen bool, _ time.Duration) {
			got = append(got, fmt.Sprintf("%d:%v", p.port, isOpen))
		}, func() { sent++ })
		slices.Sort(got)
		if sent != len(probes) {
			t.Errorf("%d probes sent, want %d", sent, len(probes))
		}
		return got
	}
	s := New(Fast)
	want := []string{fmt.Sprintf("%d:true", open), fmt.Sprintf("%d:false", closed)}
	slices.Sort(want)
	if got := run(s.connectAll); !slices.Equal(got, want) {
		t.Errorf("connectAll: %v, want %v", got, want)
	}
	if got := run(s.connectAllDial); !slices.Equal(got, want) {
		t.Errorf("connectAllDial: %v, want %v", got, want)
	}
}
