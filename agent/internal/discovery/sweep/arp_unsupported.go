//go:build !linux && !darwin && !windows

package sweep

import (
	"context"
	"errors"
	"net/netip"
)

// arpSweep has neither raw link-layer sockets nor a neighbour table reader
// here; ICMP and TCP cover the local subnets instead.
func (s *Scanner) arpSweep(context.Context, localIface, []netip.Addr, *state, func(Progress)) error {
	return errors.ErrUnsupported
}
