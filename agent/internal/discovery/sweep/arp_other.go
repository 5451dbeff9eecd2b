//go:build !linux

package sweep

import (
	"context"
	"errors"
	"net/netip"
)

// arpSweep needs raw link-layer sockets, which only the Linux build has;
// elsewhere ICMP and TCP cover the local subnets too.
func (s *Scanner) arpSweep(context.Context, localIface, []netip.Addr, *state, func(Progress)) error {
	return errors.ErrUnsupported
}
