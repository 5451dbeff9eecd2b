//go:build !linux

package sweep

import (
	"context"
	"time"
)

// connectAll tries each probe, Concurrency at a time and paced by the
// limiter, calling answered for each that got a handshake (open) or a
// reset, and sent as each goes out; both are called from one goroutine at
// a time. It returns when every probe is answered or timed out, or ctx is
// done, leaving no socket open.
func (s *Scanner) connectAll(ctx context.Context, probes []tcpProbe, timeout time.Duration,
	answered func(p tcpProbe, open bool, rtt time.Duration), sent func()) {
	s.connectAllDial(ctx, probes, timeout, answered, sent)
}
