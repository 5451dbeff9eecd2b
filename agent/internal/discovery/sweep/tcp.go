package sweep

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// isUnreachable reports whether err says the address cannot be reached
// at all (no route), as opposed to a failure of our socket.
func isUnreachable(err error) bool {
	return errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH)
}

// tcpSweep tries every port on every address, Concurrency at a time. A
// completed handshake is an open port; a reset is a live host.
func (s *Scanner) tcpSweep(ctx context.Context, addrs []netip.Addr, ports []int, st *state, progress func(Progress)) {
	timeout := min(max(2*st.rtt.wait(), 2*s.p.MinWait), s.p.MaxWait)
	total := len(addrs) * len(ports)
	sem := make(chan struct{}, s.p.Concurrency)
	var wg sync.WaitGroup
	d := net.Dialer{Timeout: timeout}
	defer wg.Wait()
	sent := 0
	for _, port := range ports {
		for _, a := range addrs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			if s.lim.wait(ctx) != nil {
				<-sem
				return
			}
			sent++
			wg.Go(func() {
				defer func() { <-sem }()
				start := time.Now()
				c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a.String(), strconv.Itoa(port)))
				switch {
				case err == nil:
					c.Close()
					st.add(a, wire.MethodTCP, nil, time.Since(start), port)
				case errors.Is(err, syscall.ECONNREFUSED):
					st.add(a, wire.MethodTCP, nil, time.Since(start), 0)
				}
			})
			if sent%32 == 0 {
				progress(Progress{Phase: "tcp", Sent: sent, Total: total, Found: st.count()})
			}
		}
	}
	wg.Wait()
	progress(Progress{Phase: "tcp", Sent: sent, Total: total, Found: st.count()})
}
