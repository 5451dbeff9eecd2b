package wire

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// PathHeartbeat takes one Heartbeat per POST with the agent's credential
// and answers a HeartbeatReply. Heartbeats are not reports: they are not
// spooled (a missed one is worth nothing once the next is due) and not
// stored as observations; the collector keeps the latest per agent as its
// last contact.
const PathHeartbeat = "/api/v1/heartbeat"

// Heartbeat is an agent's "still alive" between inventories, with the state
// of its delivery.
type Heartbeat struct {
	AgentID      string `json:"agent_id"`
	AgentVersion string `json:"agent_version"`
	// SentAt is the agent's clock when it sent the heartbeat.
	SentAt time.Time `json:"sent_at"`
	// UptimeSeconds is how long the agent process has run.
	UptimeSeconds int64 `json:"uptime_seconds"`
	// SpoolRecords and SpoolBytes are the reports waiting in the agent's
	// spool; DroppedRecords the reports it dropped for space and has not
	// reported yet.
	SpoolRecords   int64 `json:"spool_records"`
	SpoolBytes     int64 `json:"spool_bytes"`
	DroppedRecords int64 `json:"dropped_records"`
	// Network is the agent's view of the network it sits on, and Trusted
	// whether that network matched the trusted-network policy it last
	// knew (nil: it knew none).
	Network *NetworkView `json:"network,omitempty"`
	Trusted *bool        `json:"trusted,omitempty"`
}

// Heartbeat limits.
const (
	maxHeartbeatList = 64
	maxHeartbeatStr  = 256
)

// Validate reports what is wrong with h.
func (h *Heartbeat) Validate() error {
	var p []string
	if h.AgentID == "" || len(h.AgentID) > maxHeartbeatStr {
		p = append(p, "agent_id: want 1 to 256 bytes")
	}
	if len(h.AgentVersion) > maxHeartbeatStr {
		p = append(p, "agent_version: longer than 256 bytes")
	}
	if h.UptimeSeconds < 0 || h.SpoolRecords < 0 || h.SpoolBytes < 0 || h.DroppedRecords < 0 {
		p = append(p, "uptime and spool counters must not be negative")
	}
	if n := h.Network; n != nil {
		if len(n.Addresses) > maxHeartbeatList || len(n.GatewayMACs) > maxHeartbeatList || len(n.DNSSuffixes) > maxHeartbeatList || len(n.Gateways) > maxHeartbeatList {
			p = append(p, fmt.Sprintf("network: more than %d entries in a list", maxHeartbeatList))
		}
		for _, s := range n.DNSSuffixes {
			if len(s) > maxHeartbeatStr {
				p = append(p, "network: a DNS suffix is longer than 256 bytes")
				break
			}
		}
	}
	if len(p) > 0 {
		return fmt.Errorf("invalid heartbeat: %s", strings.Join(p, "; "))
	}
	return nil
}

// HeartbeatReply answers a heartbeat.
type HeartbeatReply struct {
	// ServerTime is the collector's clock, so the agent can log skew.
	ServerTime time.Time `json:"server_time"`
	// Networks is the trusted-network policy: where the agent may scan
	// and listen.
	Networks NetworkPolicy `json:"networks"`
}

// Kinds of trusted-network rule.
const (
	// TrustSubnet matches when one of the agent's interface addresses
	// lies in the prefix.
	TrustSubnet = "subnet"
	// TrustGatewayMAC matches when the MAC address of one of the agent's
	// default gateways is this one.
	TrustGatewayMAC = "gateway-mac"
	// TrustDNSSuffix matches when one of the agent's DNS search domains is
	// this domain or under it.
	TrustDNSSuffix = "dns-suffix"
)

// TrustedNetwork is one rule of the trusted-network policy.
type TrustedNetwork struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Value string `json:"value"` // canonical: see NormalizeTrustValue
}

// NetworkPolicy says on which networks an agent may scan and listen. An
// agent on a network that matches no rule scans nothing. With no rules,
// the agent scans nowhere unless TrustAll, which only an explicit
// collector setting turns on.
type NetworkPolicy struct {
	TrustAll bool             `json:"trust_all,omitempty"`
	Rules    []TrustedNetwork `json:"rules"`
}

// NetworkView is what an agent knows of the network it sits on.
type NetworkView struct {
	// Addresses are its interface addresses with their prefix length
	// (loopback excluded), such as 198.18.1.5/24.
	Addresses []string `json:"addresses,omitempty"`
	// Gateways are its default gateways and GatewayMACs their link-layer
	// addresses where the neighbour table knows them.
	Gateways    []string `json:"gateways,omitempty"`
	GatewayMACs []string `json:"gateway_macs,omitempty"`
	// DNSSuffixes are its DNS search domains.
	DNSSuffixes []string `json:"dns_suffixes,omitempty"`
}

// String describes v in one line, for refusals and logs.
func (v NetworkView) String() string {
	part := func(name string, l []string) string {
		if len(l) == 0 {
			return name + " none"
		}
		return name + " " + strings.Join(l, ",")
	}
	return strings.Join([]string{part("addresses", v.Addresses), part("gateways", v.Gateways),
		part("gateway MACs", v.GatewayMACs), part("DNS suffixes", v.DNSSuffixes)}, "; ")
}

// NormalizeTrustValue checks a rule's value for its kind and returns its
// canonical form: a masked prefix (198.18.1.0/24), a lower-case
// colon-separated MAC, or a lower-case domain without a trailing dot.
func NormalizeTrustValue(kind, value string) (string, error) {
	value = strings.TrimSpace(value)
	switch kind {
	case TrustSubnet:
		p, err := netip.ParsePrefix(value)
		if err != nil {
			return "", fmt.Errorf("subnet %q: want a prefix such as 198.18.1.0/24", value)
		}
		if p.Bits() == 0 {
			return "", fmt.Errorf("subnet %q: a /0 would trust every network", value)
		}
		return p.Masked().String(), nil
	case TrustGatewayMAC:
		hw, err := net.ParseMAC(value)
		if err != nil || len(hw) != 6 {
			return "", fmt.Errorf("gateway MAC %q: want 6 bytes such as 00:11:22:33:44:55", value)
		}
		if isZero(hw) || hw[0]&1 == 1 {
			return "", fmt.Errorf("gateway MAC %q: a zero or multicast address is no gateway's", value)
		}
		return hw.String(), nil
	case TrustDNSSuffix:
		d := strings.ToLower(strings.TrimSuffix(value, "."))
		if !validDomain(d) {
			return "", fmt.Errorf("DNS suffix %q: want a domain such as corp.example", value)
		}
		return d, nil
	}
	return "", fmt.Errorf("trusted network kind %q: want %s, %s or %s", kind, TrustSubnet, TrustGatewayMAC, TrustDNSSuffix)
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// ErrNoTrustedNetworks is Check's answer when the policy has no rule and
// does not trust every network.
var ErrNoTrustedNetworks = errors.New("the collector lists no trusted networks (umbra network trust add …)")

// Check reports whether an agent with view v may scan: nil, with the rule
// that matched (zero when TrustAll), or an error saying why not. Values
// of v that do not parse never match.
func (p NetworkPolicy) Check(v NetworkView) (TrustedNetwork, error) {
	if p.TrustAll {
		return TrustedNetwork{}, nil
	}
	if len(p.Rules) == 0 {
		return TrustedNetwork{}, ErrNoTrustedNetworks
	}
	var addrs []netip.Addr
	for _, a := range v.Addresses {
		if pf, err := netip.ParsePrefix(a); err == nil {
			addrs = append(addrs, pf.Addr().Unmap())
		} else if ad, err := netip.ParseAddr(a); err == nil {
			addrs = append(addrs, ad.Unmap())
		}
	}
	for _, r := range p.Rules {
		val, err := NormalizeTrustValue(r.Kind, r.Value)
		if err != nil {
			continue // a rule this agent does not understand trusts nothing
		}
		switch r.Kind {
		case TrustSubnet:
			pf := netip.MustParsePrefix(val)
			for _, a := range addrs {
				if !a.IsLoopback() && pf.Contains(a) {
					return r, nil
				}
			}
		case TrustGatewayMAC:
			for _, m := range v.GatewayMACs {
				if hw, err := net.ParseMAC(m); err == nil && hw.String() == val {
					return r, nil
				}
			}
		case TrustDNSSuffix:
			for _, s := range v.DNSSuffixes {
				s = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
				if s == val || strings.HasSuffix(s, "."+val) {
					return r, nil
				}
			}
		}
	}
	return TrustedNetwork{}, fmt.Errorf("no trusted-network rule matches (%s)", v)
}
