//go:build !linux

package sweep

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// connectAll tries each probe, Concurrency at a time and paced by the
// limiter, calling answered for each that got a handshake (open) or a
// reset, and sent as each goes out; both are called from one goroutine at
// a time. It returns when every probe is answered or timed out, or ctx is
// done, leaving no socket open.
func (s *Scanner) connectAll(ctx context.Context, probes []tcpProbe, timeout time.Duration,
	answered func(p tcpProbe, open bool, rtt time.Duration), sent func()) {
	sem := make(chan struct{}, s.p.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	d := net.Dialer{Timeout: timeout}
	defer wg.Wait()
	for _, p := range probes {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		if s.lim.wait(ctx) != nil {
			<-sem
			return
		}
		sent()
		wg.Go(func() {
			defer func() { <-sem }()
			start := time.Now()
			c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(p.addr.String(), strconv.Itoa(p.port)))
			switch {
			case err == nil:
				c.Close()
				mu.Lock()
				answered(p, true, time.Since(start))
				mu.Unlock()
			case errors.Is(err, syscall.ECONNREFUSED):
				mu.Lock()
				answered(p, false, time.Since(start))
				mu.Unlock()
			}
		})
	}
}
