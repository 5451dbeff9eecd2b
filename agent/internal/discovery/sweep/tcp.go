package sweep

import (
	"context"
	"errors"
	"net/netip"
	"syscall"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// isUnreachable reports whether err says the address cannot be reached
// at all (no route), as opposed to a failure of our socket.
func isUnreachable(err error) bool {
	return errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// tcpProbe is one TCP connect to try.
type tcpProbe struct {
	addr netip.Addr
	port int
}

// tcpSweep tries every port on every address, Concurrency at a time. A
// completed handshake is an open port; a reset is a live host.
func (s *Scanner) tcpSweep(ctx context.Context, addrs []netip.Addr, ports []int, st *state, progress func(Progress)) {
	timeout := min(max(2*st.rtt.wait(), 2*s.p.MinWait), s.p.MaxWait)
	probes := make([]tcpProbe, 0, len(addrs)*len(ports))
	for _, port := range ports {
		for _, a := range addrs {
			probes = append(probes, tcpProbe{a, port})
		}
	}
	sent := 0
	s.connectAll(ctx, probes, timeout, func(p tcpProbe, open bool, rtt time.Duration) {
		port := 0
		if open {
			port = p.port
		}
		st.add(p.addr, wire.MethodTCP, nil, rtt, port)
	}, func() {
		sent++
		if sent%32 == 0 {
			progress(Progress{Phase: "tcp", Sent: sent, Total: len(probes), Found: st.count()})
		}
	})
	progress(Progress{Phase: "tcp", Sent: sent, Total: len(probes), Found: st.count()})
}
