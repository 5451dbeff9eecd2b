package sweep

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/target"
	"github.com/umbrasec/umbra/shared/wire"
)

func TestARPFrameRoundTrip(t *testing.T) {
	sha := net.HardwareAddr{0x02, 0, 0x5e, 0x10, 0, 0xfa}
	req := arpRequestFrame(sha, netip.MustParseAddr("198.18.1.250"), netip.MustParseAddr("198.18.1.7"))
	if len(req) != minFrameLen {
		t.Fatalf("request is %d bytes, want %d", len(req), minFrameLen)
	}
	if _, _, err := parseARPReply(req); err == nil {
		t.Errorf("parseARPReply(request) = nil error, want errNotARPReply")
	}
	// Turn it into the reply a host would send.
	rep := slices.Clone(req)
	rep[14+7] = arpReply
	mac := net.HardwareAddr{0x00, 0x1b, 0x21, 1, 2, 3}
	copy(rep[14+8:], mac)
	copy(rep[14+14:], []byte{198, 18, 1, 7})
	gotMAC, gotIP, err := parseARPReply(rep)
	if err != nil || gotMAC.String() != mac.String() || gotIP != netip.MustParseAddr("198.18.1.7") {
		t.Errorf("parseARPReply = %v, %v, %v; want %v, 198.18.1.7", gotMAC, gotIP, err, mac)
	}
}

func FuzzParseARPReply(f *testing.F) {
	f.Add(arpRequestFrame(net.HardwareAddr{1, 2, 3, 4, 5, 6}, netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.1.2")))
	f.Fuzz(func(t *testing.T, b []byte) {
		mac, ip, err := parseARPReply(b)
		if err == nil && (len(mac) != 6 || !ip.Is4()) {
			t.Fatalf("parseARPReply accepted %x as %v %v", b, mac, ip)
		}
	})
}

func TestEcho(t *testing.T) {
	nonce := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	req := echoRequest(0x1234, 7, nonce)
	if checksum(req) != 0 {
		t.Errorf("checksum of a request = %#x, want 0", checksum(req))
	}
	if parseEchoReply(req, nonce) == nil {
		t.Errorf("parseEchoReply(request) = nil, want an error")
	}
	rep := slices.Clone(req)
	rep[0] = icmpEchoReply
	if err := parseEchoReply(rep, nonce); err != nil {
		t.Errorf("parseEchoReply(reply) = %v", err)
	}
	if parseEchoReply(rep, [8]byte{}) == nil {
		t.Errorf("parseEchoReply(other nonce) = nil, want an error")
	}
}

func FuzzParseEchoReply(f *testing.F) {
	f.Add(echoRequest(1, 1, [8]byte{}))
	f.Fuzz(func(t *testing.T, b []byte) { _ = parseEchoReply(b, [8]byte{}) })
}

func TestLimiterHoldsRate(t *testing.T) {
	l := newLimiter(1000)
	start := time.Now()
	for range 200 {
		if err := l.wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// 200 packets at 1000/s take at least ~199 ms less the burst.
	if d := time.Since(start); d < 199*time.Millisecond-burstWindow {
		t.Errorf("200 packets at 1000/s took %v, want at least %v", d, 199*time.Millisecond-burstWindow)
	}
}

// TestLimiterBurstIsBounded: a sender that falls behind may catch up by
// at most burstWindow's worth of packets at once.
func TestLimiterBurstIsBounded(t *testing.T) {
	l := newLimiter(1000)
	l.wait(t.Context())
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	n := 0
	for time.Since(start) < 2*time.Millisecond {
		l.wait(t.Context())
		n++
	}
	if max := int(burstWindow/time.Millisecond) + 3; n > max {
		t.Errorf("%d packets at once after a pause, want at most %d at 1000/s", n, max)
	}
}

func TestLimiterCancel(t *testing.T) {
	l := newLimiter(1)
	ctx, cancel := context.WithCancel(t.Context())
	l.wait(ctx)
	cancel()
	if err := l.wait(ctx); err == nil {
		t.Errorf("wait after cancel = nil, want an error")
	}
}

func TestRTTWait(t *testing.T) {
	e := newRTT(50*time.Millisecond, time.Second)
	if got := e.wait(); got != time.Second {
		t.Errorf("wait with no samples = %v, want the maximum", got)
	}
	for range 10 {
		e.add(time.Millisecond)
	}
	if got := e.wait(); got != 50*time.Millisecond {
		t.Errorf("wait after 1ms samples = %v, want the minimum 50ms", got)
	}
	e.add(10 * time.Second)
	if got := e.wait(); got != time.Second {
		t.Errorf("wait after a 10s sample = %v, want the maximum", got)
	}
}

// listenLoopback accepts and closes TCP connections on a port of 127.0.0.1
// until the test ends, and returns the port.
func listenLoopback(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestSweepLoopback sweeps 127.0.0.1 over TCP only: loopback is the one
// address a test may send to outside the test network.
func TestSweepLoopback(t *testing.T) {
	port := listenLoopback(t)
	set, err := target.Parse([]string{"127.0.0.1"}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := Fast
	p.Ports = []int{port}
	s := New(p)
	s.interfaces = func() ([]localIface, error) { return nil, nil }
	s.noICMP = true
	res := s.Sweep(t.Context(), set, nil)
	if len(res.Hosts) != 1 || !slices.Equal(res.Hosts[0].OpenPorts, []int{port}) || !slices.Contains(res.Hosts[0].Methods, wire.MethodTCP) {
		t.Fatalf("Sweep(127.0.0.1) = %+v, errors %v; want one host with port %d open", res.Hosts, res.Errors, port)
	}
}

// TestSweepCancelLeavesNothing starts and cancels sweeps of loopback
// addresses and checks that no goroutine is left behind.
func TestSweepCancelLeavesNothing(t *testing.T) {
	set, err := target.Parse([]string{"127.0.0.0/24"}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	for i := range 200 {
		s := New(Polite)
		s.interfaces = func() ([]localIface, error) { return nil, nil }
		s.noICMP = true
		ctx, cancel := context.WithCancel(t.Context())
		if i%2 == 0 {
			cancel()
		} else {
			time.AfterFunc(time.Millisecond, cancel)
		}
		res := s.Sweep(ctx, set, nil)
		cancel()
		if len(res.Errors) == 0 {
			t.Fatalf("a cancelled sweep reported no error")
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after 200 cancelled sweeps, %d before", n, before)
	}
}

func TestLivenessPortsWithoutPortScan(t *testing.T) {
	if got := livenessPorts(nil); !slices.Equal(got, LivenessPorts) {
		t.Errorf("livenessPorts(nil) = %v, want %v: liveness-only sweeps still try TCP where ARP does not reach", got, LivenessPorts)
	}
	if got := livenessPorts([]int{22, 9100}); !slices.Equal(got, []int{22}) {
		t.Errorf("livenessPorts([22 9100]) = %v, want [22]", got)
	}
}

func TestARPRateDefaultsToRate(t *testing.T) {
	s := New(Profile{Rate: 300})
	if s.p.ARPRate != 300 {
		t.Errorf("New(Rate 300).ARPRate = %d, want 300", s.p.ARPRate)
	}
	if Polite.ARPRate > 1000 || Polite.Rate > 400 {
		t.Errorf("the polite profile sends ARP at %d/s and the rest at %d/s; its documented caps are 1000 and 400", Polite.ARPRate, Polite.Rate)
	}
}
