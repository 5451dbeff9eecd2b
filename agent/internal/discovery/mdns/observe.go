package mdns

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/identify"
	"github.com/umbrasec/umbra/shared/wire"
)

// ByAddr groups services by the addresses they announced.
func ByAddr(svcs []Service) map[netip.Addr][]Service {
	m := map[netip.Addr][]Service{}
	for _, s := range svcs {
		for _, a := range s.Addrs {
			m[a] = append(m[a], s)
		}
	}
	return m
}

// Types returns the distinct service types among svcs.
func Types(svcs []Service) []string {
	var t []string
	for _, s := range svcs {
		if !slices.Contains(t, s.Type) {
			t = append(t, s.Type)
		}
	}
	return t
}

// Model returns the model a device's TXT records name (ty, md, model,
// usb_MDL), if any.
func Model(svcs []Service) string {
	for _, key := range []string{"ty", "md", "model", "usb_MDL"} {
		for _, s := range svcs {
			if v, ok := TXTValue(s.TXT, key); ok && v != "" {
				return v
			}
		}
	}
	return ""
}

// Observations makes one observation (method mdns) per announced address,
// with every service, instance and TXT record as evidence. It is a pure
// function of its arguments.
func Observations(svcs []Service, at time.Time, observer string) []wire.Observation {
	at = at.UTC().Truncate(time.Millisecond)
	by := ByAddr(svcs)
	addrs := make([]netip.Addr, 0, len(by))
	for a := range by {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	var out []wire.Observation
	for _, a := range addrs {
		ss := by[a]
		o := wire.Observation{ObservedAt: at, Observer: observer, Method: wire.MethodMDNS, IP: a.String(), Model: Model(ss)}
		for _, s := range ss {
			if s.Host != "" {
				o.Hostname = strings.TrimSuffix(s.Host, ".local")
				break
			}
		}
		v := identify.Classify(identify.Evidence{MDNSServices: Types(ss)})
		if v.Kind != wire.KindUnknown {
			o.Kinds = v.Hints
		}
		add := func(k, v string) {
			if len(o.Evidence) < wire.MaxObservationItems {
				o.Evidence = append(o.Evidence, wire.Evidence{Key: k, Value: v})
			}
		}
		for _, s := range ss {
			add("mdns.service", s.Type+" "+s.Instance+" port "+strconv.Itoa(s.Port))
			for _, t := range s.TXT {
				add("mdns.txt", s.Type+" "+t)
			}
		}
		out = append(out, o)
	}
	return out
}
