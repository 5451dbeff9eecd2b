package sweep

import (
	"context"
	"errors"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// connectAll tries each probe, Concurrency at a time and paced by the
// limiter, calling answered for each that got a handshake (open) or a
// reset, and sent as each goes out; both are called from this goroutine.
// It returns when every probe is answered or timed out, or ctx is done,
// leaving no socket open.
//
// The connects are non-blocking sockets watched by one epoll instance
// from this goroutine: hundreds in flight cost a file descriptor and a
// few words each, not a goroutine with its stack and a net.Conn.
func (s *Scanner) connectAll(ctx context.Context, probes []tcpProbe, timeout time.Duration,
	answered func(p tcpProbe, open bool, rtt time.Duration), sent func()) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		// Out of file descriptors, or a sandbox without epoll: a dialer
		// per probe still scans.
		s.connectAllDial(ctx, probes, timeout, answered, sent)
		return
	}
	defer unix.Close(ep)
	type flight struct {
		p     tcpProbe
		start time.Time
	}
	inflight := make(map[int32]flight, s.p.Concurrency)
	defer func() {
		for fd := range inflight {
			unix.Close(int(fd))
		}
	}()
	done := func(fd int32) {
		unix.EpollCtl(ep, unix.EPOLL_CTL_DEL, int(fd), nil)
		unix.Close(int(fd))
		delete(inflight, fd)
	}
	events := make([]unix.EpollEvent, 64)
	// reap waits up to wait for connects to complete, and ends those
	// past their timeout.
	reap := func(wait time.Duration) {
		ms := int(wait / time.Millisecond)
		if wait > 0 && ms == 0 {
			ms = 1
		}
		n, err := unix.EpollWait(ep, events, ms)
		if err != nil && !errors.Is(err, unix.EINTR) {
			n = 0
		}
		now := time.Now()
		for _, ev := range events[:max(n, 0)] {
			f, ok := inflight[ev.Fd]
			if !ok {
				continue
			}
			soerr, err := unix.GetsockoptInt(int(ev.Fd), unix.SOL_SOCKET, unix.SO_ERROR)
			switch {
			case err != nil:
			case soerr == 0:
				answered(f.p, true, now.Sub(f.start))
			case soerr == int(unix.ECONNREFUSED):
				answered(f.p, false, now.Sub(f.start))
			}
			done(ev.Fd)
		}
		for fd, f := range inflight {
			if now.Sub(f.start) >= timeout {
				done(fd)
			}
		}
	}
	// nextDeadline is how long until the oldest connect times out.
	nextDeadline := func() time.Duration {
		var oldest time.Time
		for _, f := range inflight {
			if oldest.IsZero() || f.start.Before(oldest) {
				oldest = f.start
			}
		}
		return max(time.Until(oldest.Add(timeout)), 0)
	}
	const slice = 10 * time.Millisecond // how often ctx is looked at while waiting
	for _, p := range probes {
		for len(inflight) >= s.p.Concurrency && ctx.Err() == nil {
			reap(min(nextDeadline(), slice))
		}
		if s.lim.wait(ctx) != nil {
			return
		}
		sent()
		fd, start, err := connectNonblock(p)
		switch {
		case errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE):
			// Out of descriptors: this probe is lost, as a dial's would
			// be; wait for the ones in flight before the next.
			for len(inflight) > 0 && ctx.Err() == nil {
				reap(min(nextDeadline(), slice))
			}
			continue
		case errors.Is(err, unix.ECONNREFUSED):
			answered(p, false, time.Since(start))
			continue
		case err != nil:
			continue
		}
		ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLERR | unix.EPOLLHUP, Fd: int32(fd)}
		if unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev) != nil {
			unix.Close(fd)
			continue
		}
		inflight[int32(fd)] = flight{p, start}
		reap(0)
	}
	for len(inflight) > 0 && ctx.Err() == nil {
		reap(min(nextDeadline(), slice))
	}
}

// connectNonblock starts a TCP connect to p. err is nil while the
// handshake is in progress (or done); ECONNREFUSED when the reset came at
// once.
func connectNonblock(p tcpProbe) (fd int, start time.Time, err error) {
	var sa unix.Sockaddr
	family := unix.AF_INET
	if a := p.addr.Unmap(); a.Is4() {
		sa = &unix.SockaddrInet4{Port: p.port, Addr: a.As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: p.port, Addr: p.addr.As16(), ZoneId: zoneID(p.addr.Zone())}
	}
	fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, time.Time{}, err
	}
	start = time.Now()
	err = unix.Connect(fd, sa)
	if err == nil || errors.Is(err, unix.EINPROGRESS) {
		return fd, start, nil
	}
	unix.Close(fd)
	return -1, start, err
}

// zoneID is the interface index of an IPv6 zone, 0 when there is none.
func zoneID(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}
