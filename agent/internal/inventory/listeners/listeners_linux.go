package listeners

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

func collect(ctx context.Context) ([]wire.Listener, []error) {
	return ReadProc(ctx, os.DirFS("/"))
}

// ReadProc reads the listening sockets from root's proc/net tables and
// finds their processes through proc/*/fd (all of them as root, one's own
// otherwise).
func ReadProc(ctx context.Context, root fs.FS) ([]wire.Listener, []error) {
	var socks []Socket
	var errs []error
	for _, t := range []struct{ file, proto string }{{"tcp", "tcp"}, {"tcp6", "tcp"}, {"udp", "udp"}, {"udp6", "udp"}} {
		data, err := fs.ReadFile(root, "proc/net/"+t.file)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, source.Wrap(Source, err))
			}
			continue
		}
		s, err := ParseProcNet(data, t.proto)
		if err != nil {
			errs = append(errs, source.Errorf(Source, "/proc/net/%s: %w", t.file, err))
		}
		socks = append(socks, s...)
	}
	owners := map[uint64]int{}
	want := map[uint64]bool{}
	for _, s := range socks {
		want[s.Inode] = true
	}
	if rl, ok := root.(fs.ReadLinkFS); ok && len(want) > 0 {
		procs, _ := fs.ReadDir(root, "proc")
		for _, p := range procs {
			if ctx.Err() != nil {
				break
			}
			pid, err := strconv.Atoi(p.Name())
			if err != nil {
				continue
			}
			fds, err := fs.ReadDir(root, "proc/"+p.Name()+"/fd")
			if err != nil {
				continue
			}
			for _, fd := range fds {
				l, err := rl.ReadLink("proc/" + p.Name() + "/fd/" + fd.Name())
				if err != nil || !strings.HasPrefix(l, "socket:[") {
					continue
				}
				ino, err := strconv.ParseUint(strings.TrimSuffix(l[8:], "]"), 10, 64)
				if err == nil && want[ino] {
					owners[ino] = pid
				}
			}
		}
	}
	names := map[int]string{}
	seen := map[string]bool{}
	var out []wire.Listener
	for _, s := range socks {
		l := wire.Listener{Protocol: s.Protocol, Address: s.Addr.Addr().String(), Port: int(s.Addr.Port()), User: strconv.Itoa(s.UID)}
		if pid, ok := owners[s.Inode]; ok {
			l.PID = pid
			if _, ok := names[pid]; !ok {
				b, _ := fs.ReadFile(root, "proc/"+strconv.Itoa(pid)+"/comm")
				names[pid] = strings.TrimSpace(string(b))
			}
			l.Process = names[pid]
		}
		k := l.Protocol + l.Address + strconv.Itoa(l.Port) + strconv.Itoa(l.PID)
		if seen[k] {
			continue // SO_REUSEPORT: one line per socket
		}
		seen[k] = true
		out = append(out, l)
	}
	return out, errs
}
