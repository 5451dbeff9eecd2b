package sweep

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"time"
)

// arpSweep on macOS: no raw ARP frames without BPF privileges the agent
// does not ask for; the kernel resolves the nudged addresses and its
// neighbour table (`arp -an`) says who answered.
func (s *Scanner) arpSweep(ctx context.Context, ifc localIface, addrs []netip.Addr, st *state, progress func(Progress)) error {
	read := func() (map[netip.Addr]net.HardwareAddr, error) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		out, err := exec.CommandContext(cctx, "/usr/sbin/arp", "-an").Output()
		if err != nil {
			return nil, err
		}
		return parseArpAn(out)
	}
	return s.neighSweep(ctx, ifc, addrs, st, progress, read, 250*time.Millisecond)
}
