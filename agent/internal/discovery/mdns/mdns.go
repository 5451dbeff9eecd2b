// Package mdns browses the local link with multicast DNS / DNS-SD: the
// service types announced (_services._dns-sd._udp), then each type's
// instances with their host, addresses, port and TXT records — printers,
// media devices, phones, IoT.
//
// It uses github.com/libp2p/zeroconf/v2, chosen over
// github.com/grandcat/zeroconf by TestBrowseLeakInScanner: libp2p's Browse
// blocks until its context ends and waits for its own loop, so repeated
// browse/cancel cycles return to the goroutine baseline, while grandcat's
// Browse returns at once and leaves its loop and query goroutines behind
// (see leak_test.go).
package mdns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/zeroconf/v2"
)

// Service is one service instance.
type Service struct {
	Instance string // "HP LaserJet M404 (office)"
	Type     string // "_ipp._tcp"
	Host     string // "NPI0A000A.local"
	Port     int
	Addrs    []netip.Addr
	TXT      []string // raw key=value strings, cleaned
}

// Options configure a browse. Zero fields take the defaults.
type Options struct {
	// Wait is how long the whole browse listens: 2s.
	Wait time.Duration
	// Types are the service types to browse; empty means enumerate them
	// with _services._dns-sd._udp first.
	Types []string
	// MaxTypes and MaxInstances bound what one link can make us hold.
	MaxTypes, MaxInstances int
	// Interfaces to browse on; nil means every multicast interface.
	Interfaces []net.Interface
}

func (o *Options) defaults() {
	if o.Wait <= 0 {
		o.Wait = 2 * time.Second
	}
	if o.MaxTypes <= 0 {
		o.MaxTypes = 64
	}
	if o.MaxInstances <= 0 {
		o.MaxInstances = 1024
	}
}

const enumType = "_services._dns-sd._udp"

// browseFunc is zeroconf.Browse; a field so tests can count goroutines of
// another implementation.
type browseFunc func(ctx context.Context, service, domain string, entries chan<- *zeroconf.ServiceEntry, opts ...zeroconf.ClientOption) error

// Browse listens for o.Wait and returns the services found, sorted. It
// returns early, with what it has, when ctx ends; nothing is left running.
func Browse(ctx context.Context, o Options) ([]Service, error) {
	o.defaults()
	return browse(ctx, o, zeroconf.Browse)
}

func browse(ctx context.Context, o Options, bf browseFunc) ([]Service, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Wait)
	defer cancel()
	opts := []zeroconf.ClientOption{zeroconf.SelectIPTraffic(zeroconf.IPv4)}
	if o.Interfaces != nil {
		opts = append(opts, zeroconf.SelectIfaces(o.Interfaces))
	}

	var mu sync.Mutex
	found := map[string]*Service{}
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var errs []error
	run := func(typ string, onEntry func(*zeroconf.ServiceEntry)) {
		defer wg.Done()
		entries := make(chan *zeroconf.ServiceEntry, 16)
		done := make(chan error, 1)
		go func() { done <- bf(ctx, typ, "local.", entries, opts...) }()
		// Drain until Browse closes the channel: a blocked send would keep
		// its loop alive.
		for e := range entries {
			onEntry(e)
		}
		if err := <-done; err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			errMu.Lock()
			errs = append(errs, fmt.Errorf("browsing %s: %w", typ, err))
			errMu.Unlock()
		}
	}
	addInstance := func(e *zeroconf.ServiceEntry) {
		s := fromEntry(e)
		if s.Instance == "" {
			return
		}
		key := s.Instance + "\x00" + s.Type
		mu.Lock()
		defer mu.Unlock()
		if old, ok := found[key]; ok {
			for _, a := range s.Addrs {
				if !slices.Contains(old.Addrs, a) && len(old.Addrs) < 16 {
					old.Addrs = append(old.Addrs, a)
				}
			}
			return
		}
		if len(found) < o.MaxInstances {
			found[key] = &s
		}
	}
	browsed := map[string]bool{}
	browseType := func(t string) {
		t = cleanType(t)
		mu.Lock()
		if t == "" || browsed[t] || len(browsed) >= o.MaxTypes {
			mu.Unlock()
			return
		}
		browsed[t] = true
		mu.Unlock()
		wg.Add(1)
		go run(t, addInstance)
	}
	if len(o.Types) > 0 {
		for _, t := range o.Types {
			browseType(t)
		}
	} else {
		wg.Add(1)
		go run(enumType, func(e *zeroconf.ServiceEntry) {
			// An enumeration answer names a type: "_ipp._tcp.local".
			browseType(e.Instance)
		})
	}
	wg.Wait()

	out := make([]Service, 0, len(found))
	for _, s := range found {
		slices.SortFunc(s.Addrs, netip.Addr.Compare)
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Service) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.Instance, b.Instance)
	})
	if ctx := context.Cause(ctx); ctx != nil && !errors.Is(ctx, context.DeadlineExceeded) && len(errs) == 0 {
		return out, ctx
	}
	return out, errors.Join(errs...)
}

// cleanType turns "_ipp._tcp.local." into "_ipp._tcp", or "" when it is
// not a service type.
func cleanType(t string) string {
	t = strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(strings.TrimSpace(t)), "."), ".local")
	parts := strings.Split(t, ".")
	if len(parts) != 2 || len(t) > 80 || !strings.HasPrefix(parts[0], "_") || (parts[1] != "_tcp" && parts[1] != "_udp") {
		return ""
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return ""
		}
	}
	if t == enumType {
		return ""
	}
	return t
}

func fromEntry(e *zeroconf.ServiceEntry) Service {
	s := Service{
		Instance: CleanText(unescapeInstance(e.Instance), 128),
		Type:     cleanType(e.Service),
		Host:     CleanText(strings.TrimSuffix(e.HostName, "."), 255),
		Port:     e.Port,
		TXT:      CleanTXT(e.Text),
	}
	for _, ip := range e.AddrIPv4 {
		if a, ok := netip.AddrFromSlice(ip); ok && len(s.Addrs) < 16 {
			s.Addrs = append(s.Addrs, a.Unmap())
		}
	}
	for _, ip := range e.AddrIPv6 {
		if a, ok := netip.AddrFromSlice(ip); ok && len(s.Addrs) < 16 {
			s.Addrs = append(s.Addrs, a)
		}
	}
	return s
}

// unescapeInstance undoes the DNS presentation escapes in an instance
// name ("HP\ LaserJet\ M404\ \(office\)" and "\032").
func unescapeInstance(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if n < 256 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
