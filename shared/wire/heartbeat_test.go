package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeTrustValue(t *testing.T) {
	for _, c := range []struct {
		kind, in, want string
		bad            bool
	}{
		{TrustSubnet, "198.18.1.7/24", "198.18.1.0/24", false},
		{TrustSubnet, " 2001:db8::1/64 ", "2001:db8::/64", false},
		{TrustSubnet, "198.18.1.0", "", true},
		{TrustSubnet, "0.0.0.0/0", "", true},
		{TrustSubnet, "::/0", "", true},
		{TrustGatewayMAC, "00-1A-2B-3C-4D-5E", "00:1a:2b:3c:4d:5e", false},
		{TrustGatewayMAC, "001a.2b3c.4d5e", "00:1a:2b:3c:4d:5e", false},
		{TrustGatewayMAC, "00:00:00:00:00:00", "", true},
		{TrustGatewayMAC, "01:00:5e:00:00:01", "", true},
		{TrustGatewayMAC, "00:11:22:33:44:55:66:77", "", true},
		{TrustGatewayMAC, "gateway", "", true},
		{TrustDNSSuffix, "Corp.Example.", "corp.example", false},
		{TrustDNSSuffix, "corp", "corp", false},
		{TrustDNSSuffix, "", "", true},
		{TrustDNSSuffix, "a..b", "", true},
		{TrustDNSSuffix, "-bad.example", "", true},
		{TrustDNSSuffix, "evil.example/x", "", true},
		{TrustDNSSuffix, strings.Repeat("a", 64) + ".example", "", true},
		{"ssid", "office", "", true},
	} {
		got, err := NormalizeTrustValue(c.kind, c.in)
		if c.bad {
			if err == nil {
				t.Errorf("NormalizeTrustValue(%q, %q) = %q, want an error", c.kind, c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("NormalizeTrustValue(%q, %q) = %q, %v, want %q", c.kind, c.in, got, err, c.want)
		}
	}
}

func TestNetworkPolicyCheck(t *testing.T) {
	office := NetworkView{
		Addresses:   []string{"127.0.0.1/8", "198.18.1.5/24", "fe80::1/64"},
		Gateways:    []string{"198.18.1.1"},
		GatewayMACs: []string{"02:00:00:00:01:01"},
		DNSSuffixes: []string{"paris.corp.example."},
	}
	cafe := NetworkView{
		Addresses:   []string{"127.0.0.1/8", "10.77.0.23/16"},
		Gateways:    []string{"10.77.0.1"},
		GatewayMACs: []string{"aa:bb:cc:00:00:01"},
		DNSSuffixes: []string{"lan"},
	}
	rule := func(kind, v string) TrustedNetwork { return TrustedNetwork{ID: kind + "=" + v, Kind: kind, Value: v} }
	for _, c := range []struct {
		name   string
		policy NetworkPolicy
		view   NetworkView
		want   string // the id of the rule that matches; "" for a refusal
		all    bool   // trusted by TrustAll
	}{
		{"subnet matches", NetworkPolicy{Rules: []TrustedNetwork{rule(TrustSubnet, "198.18.1.0/24")}}, office, "subnet=198.18.1.0/24", false},
		{"wider subnet matches", NetworkPolicy{Rules: []TrustedNetwork{rule(TrustSubnet, "198.18.0.0/15")}}, office, "subnet=198.18.0.0/15", false},
		{"narrower subnet elsewhere", NetworkPolicy{Rules: []TrustedNetwork{rule(TrustSubnet, "198.18.1.128/25")}}, office, "", false},
		{"unmasked rule still matches", NetworkPolicy{Rules: []TrustedNetwork{rule(TrustSubnet, "198.18.1.77/24")}}, office, "subnet=198.18.1.77/24", false},
		{"loopback never matches", NetworkPolicy{Rules: []TrustedNetwork{rule(TrustSubnet, "127.0.0.0/8")}}, office, "", false},
		{"ipv6 link-local rule", NetworkPolicy{Rules: []TrustedNetwork{rule(TrustSubnet, "fe80::/64")}}, office, "subnet=fe80::/64", false},
		{"gateway MAC any spelling", NetworkPolicy{Rules: []TrustedNetwork{rule(TrustGatewayMAC, "02-00-00-00-01-01")}}, office, "gateway-mac=02-00-00-00-01-01", false},
		{"gateway MAC of another network", NetworkPolicy{Rules: []TrustedNetwork{rule(TrustGatewayMAC, "02:00:00:00:01:01")}}, cafe, "", false},
		{"dns suffix under", NetworkPolicy{Rules: []TrustedNetwork{rule(TrustDNSSuffix, "corp.example")}}, office, "dns-suffix=corp.example", false},
		{"dns suffix exact, any case", NetworkPolicy{Rules: []TrustedNetwork{rule(TrustDNSSuffix, "PARIS.corp.example")}}, office, "dns-suffix=PARIS.corp.example", false},
		{"dns suffix is not a substring match", NetworkPolicy{Rules: []TrustedNetwork{rule(TrustDNSSuffix, "rp.example")}}, office, "", false},
		{"café: nothing matches", NetworkPolicy{Rules: []TrustedNetwork{rule(TrustSubnet, "198.18.1.0/24"), rule(TrustGatewayMAC, "02:00:00:00:01:01"), rule(TrustDNSSuffix, "corp.example")}}, cafe, "", false},
		{"second rule matches", NetworkPolicy{Rules: []TrustedNetwork{rule(TrustSubnet, "192.0.2.0/24"), rule(TrustDNSSuffix, "lan")}}, cafe, "dns-suffix=lan", false},
		{"bad rule trusts nothing", NetworkPolicy{Rules: []TrustedNetwork{rule(TrustSubnet, "0.0.0.0/0"), rule("ssid", "cafe")}}, cafe, "", false},
		{"empty policy refuses", NetworkPolicy{}, office, "", false},
		{"trust all", NetworkPolicy{TrustAll: true}, cafe, "", true},
		{"no network at all", NetworkPolicy{Rules: []TrustedNetwork{rule(TrustSubnet, "198.18.1.0/24")}}, NetworkView{}, "", false},
		{"garbage view", NetworkPolicy{Rules: []TrustedNetwork{rule(TrustSubnet, "198.18.1.0/24"), rule(TrustGatewayMAC, "02:00:00:00:01:01")}},
			NetworkView{Addresses: []string{"not-an-address", "198.18.1.300/24"}, GatewayMACs: []string{"zz"}}, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.policy.Check(c.view)
			switch {
			case c.all:
				if err != nil || got != (TrustedNetwork{}) {
					t.Errorf("Check = %+v, %v, want trusted by trust_all", got, err)
				}
			case c.want == "":
				if err == nil {
					t.Errorf("Check = %+v, want a refusal", got)
				}
			case err != nil || got.ID != c.want:
				t.Errorf("Check = %+v, %v, want rule %s", got, err, c.want)
			}
		})
	}
	if _, err := (NetworkPolicy{}).Check(office); !errors.Is(err, ErrNoTrustedNetworks) {
		t.Errorf("empty policy: %v, want ErrNoTrustedNetworks", err)
	}
	_, err := NetworkPolicy{Rules: []TrustedNetwork{rule(TrustSubnet, "198.18.1.0/24")}}.Check(cafe)
	if err == nil || !strings.Contains(err.Error(), "10.77.0.23/16") || !strings.Contains(err.Error(), "aa:bb:cc:00:00:01") {
		t.Errorf("café refusal %v does not say where the agent is", err)
	}
}

func TestHeartbeatValidate(t *testing.T) {
	ok := Heartbeat{AgentID: "a", AgentVersion: "v", UptimeSeconds: 3}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", ok, err)
	}
	for _, h := range []Heartbeat{
		{},
		{AgentID: strings.Repeat("a", 300)},
		{AgentID: "a", SpoolRecords: -1},
		{AgentID: "a", Network: &NetworkView{DNSSuffixes: make([]string, 65)}},
		{AgentID: "a", Network: &NetworkView{DNSSuffixes: []string{strings.Repeat("x", 300)}}},
	} {
		if err := h.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", h)
		}
	}
}
