package sweep

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/umbrasec/umbra/shared/ident"
	"github.com/umbrasec/umbra/shared/wire"
)

// Observations turns a host into one observation per method that saw it.
// vendor, if not nil, names the vendor of a MAC and says whether it is
// locally administered.
func (h Host) Observations(observer string, vendor func(ident.MAC) (string, bool)) []wire.Observation {
	var out []wire.Observation
	for _, m := range h.Methods {
		o := wire.Observation{
			ObservedAt: h.SeenAt.UTC().Truncate(time.Millisecond),
			Observer:   observer,
			Method:     m,
			IP:         h.Addr.String(),
		}
		switch m {
		case wire.MethodARP:
			if mac, err := ident.ParseMAC(h.MAC.String()); err == nil {
				o.MAC = mac.String()
				o.MACLocal = mac.IsLocallyAdministered()
				if vendor != nil {
					o.Vendor, _ = vendor(mac)
				}
			}
			o.RTTMicros = h.RTT.Microseconds()
		case wire.MethodTCP:
			o.OpenPorts = slices.Clone(h.OpenPorts)
			if len(o.OpenPorts) > wire.MaxObservationItems {
				o.OpenPorts = o.OpenPorts[:wire.MaxObservationItems]
			}
		default:
			o.RTTMicros = h.RTT.Microseconds()
		}
		out = append(out, o)
	}
	return out
}

// PortList writes ports as "22,80,443".
func PortList(ports []int) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ",")
}

// MethodList writes methods as "arp+icmp+tcp".
func MethodList(ms []wire.Method) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, "+")
}

// String describes a progress report for a person.
func (p Progress) String() string {
	return fmt.Sprintf("%s %d/%d probes, %d hosts found", p.Phase, p.Sent, p.Total, p.Found)
}
