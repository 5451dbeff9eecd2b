package wire

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/umbrasec/umbra/shared/ident"
)

// Discovery is what one scan of the network found: the observations of
// every device that answered, and what was asked, so that silence can be
// told apart from not looking.
type Discovery struct {
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Targets are the address ranges the scan was asked to cover, as given
	// (CIDR, range or single address), and Excluded those it was told to
	// skip.
	Targets  []string `json:"targets,omitempty"`
	Excluded []string `json:"excluded,omitempty"`
	// Profile is the pacing profile the scan ran with (polite, fast, …).
	Profile string `json:"profile,omitempty"`

	Observations []Observation `json:"observations"`

	// Errors lists the discoverers that failed or could not run (no raw
	// socket privilege, …): a broken method costs itself, not the scan.
	Errors []SourceError `json:"errors,omitempty"`
}

// Method says how an observation was made.
type Method string

// The known methods. The collector accepts any short lower-case token so
// that an agent newer than the collector can add one.
const (
	MethodSelf    Method = "self"     // the agent's own inventory
	MethodARP     Method = "arp"      // an ARP reply on a directly attached subnet
	MethodNeigh   Method = "neigh"    // the OS neighbour table
	MethodICMP    Method = "icmp"     // an ICMP echo reply
	MethodTCP     Method = "tcp"      // a TCP handshake or reset
	MethodSNMP    Method = "snmp"     // the device's own SNMP agent
	MethodSNMPARP Method = "snmp-arp" // a router's ARP table (ipNetToMedia)
	MethodSNMPFDB Method = "snmp-fdb" // a switch's forwarding table
	MethodLLDP    Method = "lldp"     // an LLDP neighbour of a device
	MethodMDNS    Method = "mdns"     // a multicast DNS announcement
	MethodDNS     Method = "dns"      // reverse DNS
	MethodNetBIOS Method = "netbios"  // a NetBIOS name query
	MethodDHCP    Method = "dhcp"     // a DHCP request seen passively
)

// Device kinds, as hinted by discovery.
const (
	KindRouter      = "router"
	KindSwitch      = "switch"
	KindAccessPoint = "access-point"
	KindPrinter     = "printer"
	KindPhone       = "phone"
	KindCamera      = "camera"
	KindServer      = "server"
	KindWorkstation = "workstation"
	KindIoT         = "iot"
	KindMedia       = "media"
	KindUnknown     = "unknown"
)

// Observation is one fact about one device, seen by one observer at one
// time. Observations are append-only: the collector never edits one. An IP
// address is evidence at a time, never an identity.
type Observation struct {
	ObservedAt time.Time `json:"observed_at"`
	// Observer is the id of the agent that made the observation.
	Observer string `json:"observer"`
	Method   Method `json:"method"`

	IP  string `json:"ip,omitempty"`  // the device's address
	MAC string `json:"mac,omitempty"` // normalised: 00:11:22:aa:bb:cc
	// MACLocal is true when MAC is locally administered (randomised,
	// virtual): evidence, never an identity.
	MACLocal bool   `json:"mac_local,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Vendor   string `json:"vendor,omitempty"`
	Model    string `json:"model,omitempty"`
	Serial   string `json:"serial,omitempty"`
	// Via is the device that reported this one when the method is indirect
	// (the router whose ARP table, the switch whose forwarding table held
	// it), and Port where on it (an interface name, a VLAN and port).
	Via  string `json:"via,omitempty"`
	Port string `json:"port,omitempty"`
	// OpenPorts are TCP ports that completed a handshake.
	OpenPorts []int `json:"open_ports,omitempty"`
	// RTT is the round-trip time of the probe that saw the device.
	RTTMicros int64 `json:"rtt_us,omitempty"`

	// Kinds are the device kinds the evidence points to, strongest first,
	// each with its reason.
	Kinds []KindHint `json:"kinds,omitempty"`
	// Evidence are the raw facts behind the observation (sysDescr,
	// sysObjectID, an mDNS service, a TXT record, …).
	Evidence []Evidence `json:"evidence,omitempty"`
}

// KindHint is one guess at a device's kind and why.
type KindHint struct {
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

// Evidence is one raw fact: a name (sysDescr, mdns.service, tcp.banner, …)
// and its value.
type Evidence struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Limits of a discovery report. A /16 scan that finds more devices than
// MaxObservations is split over several reports by the agent.
const (
	MaxObservations     = 50000
	MaxObservationItems = 64 // open ports, kind hints or evidence in one observation
	MaxTargets          = 256
)

func (d *Discovery) validate(v *validator, now time.Time) {
	if d.StartedAt.IsZero() {
		v.addf("discovery.started_at is missing")
	}
	if d.FinishedAt.IsZero() {
		v.addf("discovery.finished_at is missing")
	} else if d.FinishedAt.Before(d.StartedAt) {
		v.addf("discovery.finished_at is before started_at")
	}
	v.str("discovery.profile", d.Profile)
	for _, f := range []struct {
		name string
		list []string
	}{{"targets", d.Targets}, {"excluded", d.Excluded}} {
		if len(f.list) > MaxTargets {
			v.addf("discovery.%s has %d entries, the limit is %d", f.name, len(f.list), MaxTargets)
			continue
		}
		for i, s := range f.list {
			v.str(fmt.Sprintf("discovery.%s[%d]", f.name, i), s)
		}
	}
	if len(d.Observations) > MaxObservations {
		v.addf("discovery.observations has %d entries, the limit is %d", len(d.Observations), MaxObservations)
	} else {
		for i := range d.Observations {
			d.Observations[i].validate(v, fmt.Sprintf("discovery.observations[%d]", i), now)
		}
	}
	if len(d.Errors) > v.lim.MaxSourceErrors {
		v.addf("discovery.errors has %d entries, the limit is %d", len(d.Errors), v.lim.MaxSourceErrors)
	} else {
		for i, e := range d.Errors {
			v.str(fmt.Sprintf("discovery.errors[%d].source", i), e.Source)
			v.str(fmt.Sprintf("discovery.errors[%d].error", i), e.Error)
		}
	}
}

// CheckMethod reports whether m is a well-formed method: 1 to 32 bytes of
// lower-case letters, digits and '-'.
func CheckMethod(m Method) error {
	if m == "" {
		return fmt.Errorf("is missing")
	}
	if len(m) > 32 {
		return fmt.Errorf("is longer than 32 bytes")
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("has a character outside [a-z0-9-] at byte %d", i)
		}
	}
	return nil
}

func (o *Observation) validate(v *validator, p string, now time.Time) {
	if o.ObservedAt.IsZero() {
		v.addf("%s.observed_at is missing", p)
	} else if d := o.ObservedAt.Sub(now); d > v.lim.MaxClockSkew || -d > v.lim.MaxClockSkew {
		v.addf("%s.observed_at is too far from the collector's clock", p)
	}
	if o.Observer != "" {
		if err := CheckID(o.Observer); err != nil {
			v.addf("%s.observer %v", p, err)
		}
	}
	if err := CheckMethod(o.Method); err != nil {
		v.addf("%s.method %v", p, err)
	}
	if o.IP == "" && o.MAC == "" {
		v.addf("%s has neither ip nor mac", p)
	}
	if o.IP != "" {
		if _, err := netip.ParseAddr(o.IP); err != nil {
			v.addf("%s.ip: %q is not an IP address", p, truncate(o.IP, 64))
		}
	}
	if o.MAC != "" {
		if _, err := ident.ParseMAC(o.MAC); err != nil {
			v.addf("%s.mac: %v", p, err)
		}
	}
	for _, f := range []struct{ name, val string }{
		{"hostname", o.Hostname}, {"vendor", o.Vendor}, {"model", o.Model},
		{"serial", o.Serial}, {"via", o.Via}, {"port", o.Port},
	} {
		v.str(p+"."+f.name, f.val)
	}
	if len(o.OpenPorts) > MaxObservationItems {
		v.addf("%s.open_ports has %d entries, the limit is %d", p, len(o.OpenPorts), MaxObservationItems)
	}
	for _, port := range o.OpenPorts {
		if port < 1 || port > 65535 {
			v.addf("%s.open_ports: %d is not a TCP port", p, port)
			break
		}
	}
	if o.RTTMicros < 0 {
		v.addf("%s.rtt_us must not be negative", p)
	}
	if len(o.Kinds) > MaxObservationItems {
		v.addf("%s.kinds has %d entries, the limit is %d", p, len(o.Kinds), MaxObservationItems)
	} else {
		for i, k := range o.Kinds {
			if k.Kind == "" {
				v.addf("%s.kinds[%d].kind is missing", p, i)
			}
			v.str(fmt.Sprintf("%s.kinds[%d].kind", p, i), k.Kind)
			v.str(fmt.Sprintf("%s.kinds[%d].reason", p, i), k.Reason)
		}
	}
	if len(o.Evidence) > MaxObservationItems {
		v.addf("%s.evidence has %d entries, the limit is %d", p, len(o.Evidence), MaxObservationItems)
	} else {
		for i, e := range o.Evidence {
			if e.Key == "" {
				v.addf("%s.evidence[%d].key is missing", p, i)
			}
			v.str(fmt.Sprintf("%s.evidence[%d].key", p, i), e.Key)
			v.str(fmt.Sprintf("%s.evidence[%d].value", p, i), e.Value)
		}
	}
}
