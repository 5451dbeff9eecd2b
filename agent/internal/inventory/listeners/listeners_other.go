//go:build !linux

package listeners

import (
	"context"
	"strconv"

	"github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"
	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

// collect asks the OS through gopsutil (GetExtendedTcpTable on Windows,
// lsof on macOS).
func collect(ctx context.Context) ([]wire.Listener, []error) {
	conns, err := net.ConnectionsWithContext(ctx, "inet")
	if err != nil {
		return nil, []error{source.Wrap(Source, err)}
	}
	var out []wire.Listener
	names := map[int32]string{}
	seen := map[string]bool{}
	for _, c := range conns {
		proto := ""
		switch {
		case c.Type == 1 && c.Status == "LISTEN":
			proto = "tcp"
		case c.Type == 2 && c.Raddr.Port == 0:
			proto = "udp"
		default:
			continue
		}
		l := wire.Listener{Protocol: proto, Address: c.Laddr.IP, Port: int(c.Laddr.Port), PID: int(c.Pid)}
		if c.Pid > 0 {
			if _, ok := names[c.Pid]; !ok {
				if p, err := process.NewProcessWithContext(ctx, c.Pid); err == nil {
					names[c.Pid], _ = p.NameWithContext(ctx)
				}
			}
			l.Process = names[c.Pid]
		}
		k := proto + l.Address + strconv.Itoa(l.Port) + strconv.Itoa(l.PID)
		if !seen[k] {
			seen[k] = true
			out = append(out, l)
		}
	}
	return out, nil
}
