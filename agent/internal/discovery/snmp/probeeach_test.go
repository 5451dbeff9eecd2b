package snmp

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// TestProbeEach reads a fake agent that answers and one that stops
// answering after the login: the first device is handed over as soon as
// it is read, long before the slow one gives up, each address once, one
// call at a time.
func TestProbeEach(t *testing.T) {
	a := startFakeAgent(t, "127.0.0.1", 0, "ok")
	startFakeAgent(t, "127.0.0.21", a.port(), "silent-walks")
	good, dead := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.21")
	p := New(Options{Credentials: []Credential{Community("public")}, Port: uint16(a.port()), Timeout: time.Second})
	var inside atomic.Int32
	got := map[netip.Addr]time.Time{}
	start := time.Now()
	res := p.ProbeEach(t.Context(), []netip.Addr{dead, good}, func(r Result) {
		if inside.Add(1) != 1 {
			t.Error("two calls at once")
		}
		defer inside.Add(-1)
		if _, ok := got[r.Addr]; ok {
			t.Errorf("%s handed over twice", r.Addr)
		}
		got[r.Addr] = time.Now()
		time.Sleep(10 * time.Millisecond) // a slow consumer: overlapping calls would show
	})
	returned := time.Now()
	if len(res) != 2 || res[0].Addr != dead || res[1].Addr != good {
		t.Fatalf("ProbeEach = %+v; want the results in the order of the addresses", res)
	}
	if res[1].Device == nil || res[1].Device.System.Name != "fake" || len(res[1].Device.Errors) > 0 {
		t.Errorf("result = %+v; want the fake device read in full", res[1])
	}
	if res[0].Device == nil || len(res[0].Device.Errors) == 0 {
		t.Errorf("result = %+v; want the silent device with the walks it could not read", res[0])
	}
	if len(got) != 2 {
		t.Fatalf("%d addresses handed over, want 2", len(got))
	}
	t.Logf("the device came after %v, the silent one after %v, ProbeEach returned after %v",
		got[good].Sub(start).Round(time.Millisecond), got[dead].Sub(start).Round(time.Millisecond), returned.Sub(start).Round(time.Millisecond))
	if !got[good].Before(got[dead]) || returned.Sub(got[good]) < 500*time.Millisecond {
		t.Errorf("the answering device was not handed over before the silent one gave up")
	}
	if all := p.ProbeAll(t.Context(), []netip.Addr{good}); len(all) != 1 || all[0].Device == nil {
		t.Errorf("ProbeAll = %+v", all)
	}
}
