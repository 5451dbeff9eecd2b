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

// connectAllDial is connectAll with a dialer per probe in flight: where
// there is no epoll, or it cannot be had. Both callbacks are called from
// one goroutine at a time.
func (s *Scanner) connectAllDial(ctx context.Context, probes []tcpProbe, timeout time.Duration,
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
