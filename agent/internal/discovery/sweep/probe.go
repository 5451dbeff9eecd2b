package sweep

import (
	"context"
	"net/netip"
	"time"
)

// passes sends one probe to each address, waits for late answers, and
// repeats for the unanswered ones Retries more times. answered reports
// whether an address has answered.
func (s *Scanner) passes(ctx context.Context, lim *limiter, phase string, addrs []netip.Addr, st *state,
	send func(netip.Addr) error, answered func(netip.Addr) bool, progress func(Progress)) error {
	sent := 0
	total := len(addrs)
	for pass := 0; pass <= s.p.Retries; pass++ {
		n := 0
		for _, a := range addrs {
			if answered(a) {
				continue
			}
			if err := lim.wait(ctx); err != nil {
				return err
			}
			if err := send(a); err != nil && ctx.Err() == nil {
				return err
			}
			n++
			sent++
			if sent%16 == 0 || sent == total {
				progress(Progress{Phase: phase, Sent: sent, Total: total, Found: st.count()})
			}
		}
		if n == 0 {
			break
		}
		// Wait for late answers; stop early once everyone has answered.
		// Before a retry, half the wait will do: an answer to the first
		// request still counts while the retry goes out, so a slow host
		// costs one more packet, not a miss.
		wait := st.rtt.wait()
		if pass < s.p.Retries {
			wait /= 2
		}
		deadline := time.Now().Add(wait)

		for time.Now().Before(deadline) {
			all := true
			for _, a := range addrs {
				if !answered(a) {
					all = false
					break
				}
			}
			if all {
				break
			}
			t := time.NewTimer(min(5*time.Millisecond, time.Until(deadline)))
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
	progress(Progress{Phase: phase, Sent: sent, Total: total, Found: st.count()})
	return ctx.Err()
}
