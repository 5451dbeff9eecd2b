package mdns

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	grandcat "github.com/grandcat/zeroconf"
	"github.com/libp2p/zeroconf/v2"
	"github.com/umbrasec/umbra/agent/internal/discovery/testbed"
	"github.com/umbrasec/umbra/shared/wire"
)

// TestMDNSIntegration browses the simulated office network from the
// scanner namespace, then runs the leak test there.
func TestMDNSIntegration(t *testing.T) {
	n := testbed.Up(t, 0)
	n.RunInScanner(t, "TestBrowseInScanner")
	n.RunInScanner(t, "TestBrowseLeakInScanner")
}

func TestBrowseInScanner(t *testing.T) {
	n := testbed.Child(t)
	start := time.Now()
	svcs, err := Browse(t.Context(), Options{Wait: 1500 * time.Millisecond})
	t.Logf("browse took %v, found %d services, err %v", time.Since(start).Round(time.Millisecond), len(svcs), err)
	if err != nil {
		t.Error(err)
	}
	for _, s := range svcs {
		t.Logf("%s %q host %s port %d addrs %v txt %q", s.Type, s.Instance, s.Host, s.Port, s.Addrs, s.TXT)
	}
	find := func(typ string) (Service, bool) {
		i := slices.IndexFunc(svcs, func(s Service) bool { return s.Type == typ })
		if i < 0 {
			return Service{}, false
		}
		return svcs[i], true
	}
	printer, _ := n.Host("printer")
	media, _ := n.Host("media")
	for _, c := range []struct {
		typ, ip, instance, txtKey, txtVal string
		port                              int
	}{
		{"_ipp._tcp", printer.IP, "HP LaserJet M404 (office)", "ty", "HP LaserJet Pro M404dn", 631},
		{"_pdl-datastream._tcp", printer.IP, "HP LaserJet M404 (office)", "ty", "HP LaserJet Pro M404dn", 9100},
		{"_googlecast._tcp", media.IP, "Living Room TV", "md", "Chromecast", 8009},
		// The bed's responder splits TXT at commas: "model=AppleTV6", "2".
		{"_airplay._tcp", media.IP, "Living Room TV", "model", "AppleTV6", 7000},
	} {
		s, ok := find(c.typ)
		if !ok {
			t.Errorf("%s not found", c.typ)
			continue
		}
		if s.Instance != c.instance || s.Port != c.port || !slices.Contains(s.Addrs, netip.MustParseAddr(c.ip)) {
			t.Errorf("%s = %+v, want instance %q port %d at %s", c.typ, s, c.instance, c.port, c.ip)
		}
		if v, _ := TXTValue(s.TXT, c.txtKey); v != c.txtVal {
			t.Errorf("%s TXT %s = %q, want %q (all: %q)", c.typ, c.txtKey, v, c.txtVal, s.TXT)
		}
	}
	obs := Observations(svcs, time.Now(), "")
	kinds := map[string]string{}
	for _, o := range obs {
		if len(o.Kinds) > 0 {
			kinds[o.IP] = o.Kinds[0].Kind
		}
	}
	if kinds[printer.IP] != wire.KindPrinter || kinds[media.IP] != wire.KindMedia {
		t.Errorf("kinds %v, want the printer a printer and the media device media", kinds)
	}
}

// openFiles counts this process's open file descriptors.
func openFiles(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// settle waits for the goroutine count to fall to at most want, and
// returns the count.
func settle(want int) int {
	deadline := time.Now().Add(3 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// grandcatBrowse adapts grandcat/zeroconf to browseFunc the way a caller
// must use it: Browse returns at once, so wait for the context.
func grandcatBrowse(ctx context.Context, service, domain string, entries chan<- *zeroconf.ServiceEntry, _ ...zeroconf.ClientOption) error {
	r, err := grandcat.NewResolver(grandcat.SelectIPTraffic(grandcat.IPv4))
	if err != nil {
		close(entries)
		return err
	}
	ch := make(chan *grandcat.ServiceEntry)
	if err := r.Browse(ctx, service, domain, ch); err != nil {
		close(entries)
		return err
	}
	// Forward until the context ends, then close entries; whatever
	// grandcat leaves running after that is what the leak test measures.
	defer close(entries)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return nil
			}
			select {
			case entries <- &zeroconf.ServiceEntry{ServiceRecord: zeroconf.ServiceRecord{Instance: e.Instance, Service: e.Service, Domain: e.Domain},
				HostName: e.HostName, Port: e.Port, Text: e.Text, AddrIPv4: e.AddrIPv4}:
			case <-ctx.Done():
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// TestBrowseLeakInScanner is the test that chose the mDNS library: browse
// with cancellation at random moments, many times, and check that
// goroutines and open files return to their baseline. libp2p/zeroconf/v2
// (used) must pass with 1,000 cycles; grandcat/zeroconf v1.0.0 (rejected)
// is measured and reported.
func TestBrowseLeakInScanner(t *testing.T) {
	testbed.Child(t)
	for _, c := range []struct {
		name   string
		bf     browseFunc
		cycles int
		must   bool
	}{
		{"libp2p/zeroconf/v2 v2.2.0", zeroconf.Browse, 1000, true},
		{"grandcat/zeroconf v1.0.0", grandcatBrowse, 200, false},
	} {
		gBase, fBase := settle(0), openFiles(t)
		start := time.Now()
		for i := range c.cycles {
			ctx, cancel := context.WithCancel(t.Context())
			if i%2 == 0 {
				time.AfterFunc(time.Duration(rand.IntN(3000))*time.Microsecond, cancel)
			} else {
				cancel()
			}
			o := Options{Wait: 5 * time.Millisecond}
			if i%10 == 0 {
				o.Types = []string{"_ipp._tcp"}
			}
			o.defaults()
			browse(ctx, o, c.bf)
			cancel()
		}
		g, f := settle(gBase), openFiles(t)
		leaked := g > gBase || f > fBase
		t.Logf("%s: %d browse/cancel cycles in %v: goroutines %d → %d, open files %d → %d, leaks: %v",
			c.name, c.cycles, time.Since(start).Round(time.Millisecond), gBase, g, fBase, f, leaked)
		if leaked && c.must {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("%s leaks; goroutines:\n%s", c.name, firstLines(string(buf), 60))
		}
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
