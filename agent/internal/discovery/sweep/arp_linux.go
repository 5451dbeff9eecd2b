package sweep

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
	"golang.org/x/sys/unix"
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openARP opens a raw AF_PACKET socket for ARP frames on one interface. It
// needs CAP_NET_RAW.
func openARP(ifc localIface) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(etherTypeARP)))
	if err != nil {
		return nil, fmt.Errorf("opening a raw socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(etherTypeARP), Ifindex: ifc.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding to %s: %w", ifc.Name, err)
	}
	// A non-blocking descriptor joins Go's poller: Close unblocks Read.
	return os.NewFile(uintptr(fd), "arp:"+ifc.Name), nil
}

func (s *Scanner) arpSweep(ctx context.Context, ifc localIface, addrs []netip.Addr, st *state, progress func(Progress)) error {
	f, err := openARP(ifc)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		// Without CAP_NET_RAW: the kernel resolves, /proc/net/arp tells.
		return s.neighSweep(ctx, ifc, addrs, st, progress, readProcNetARP, 20*time.Millisecond)
	}
	if err != nil {
		return err
	}
	var mu sync.Mutex
	sentAt := make(map[netip.Addr]time.Time, len(addrs))
	got := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		sentAt[a] = time.Time{}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 1514)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return // closed
			}
			mac, ip, err := parseARPReply(buf[:n])
			if err != nil {
				continue
			}
			now := time.Now()
			mu.Lock()
			t, asked := sentAt[ip]
			first := asked && !got[ip] && !t.IsZero()
			if first {
				got[ip] = true
			}
			mu.Unlock()
			if first {
				st.add(ip, wire.MethodARP, mac, now.Sub(t), 0)
			}
		}
	})
	defer func() {
		f.Close()
		wg.Wait()
	}()
	send := func(a netip.Addr) error {
		mu.Lock()
		if sentAt[a].IsZero() {
			sentAt[a] = time.Now()
		}
		mu.Unlock()
		_, err := f.Write(arpRequestFrame(ifc.MAC, ifc.Addr, a))
		return err
	}
	answered := func(a netip.Addr) bool {
		mu.Lock()
		defer mu.Unlock()
		return got[a]
	}
	return s.passes(ctx, s.arpLim, "arp", addrs, st, send, answered, progress)
}
