package agent

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/config"
	"github.com/umbrasec/umbra/shared/wire"
)

func TestSearchDomains(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"nameserver 198.18.1.1\nsearch paris.corp.example corp.example.\n", []string{"paris.corp.example", "corp.example"}},
		{"domain Corp.Example\nsearch corp.example lab.example # a comment\n", []string{"corp.example", "lab.example"}},
		{"# search commented.example\n;search old.example\nnameserver ::1\n", nil},
		{"search\n", nil},
		{"", nil},
	} {
		if got := searchDomains([]byte(c.in)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("searchDomains(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

const procNetARP = `IP address       HW type     Flags       HW address            Mask     Device
198.18.1.1       0x1         0x2         02:00:00:00:01:01     *        eth0
198.18.1.9       0x1         0x0         00:00:00:00:00:00     *        eth0
10.0.0.1         0x1         0x2         AA:BB:CC:DD:EE:FF     *        wlan0
garbage
`

func TestNeighbourMACsAndGateways(t *testing.T) {
	macs := neighbourMACs([]byte(procNetARP))
	want := map[netip.Addr]string{netip.MustParseAddr("198.18.1.1"): "02:00:00:00:01:01", netip.MustParseAddr("10.0.0.1"): "aa:bb:cc:dd:ee:ff"}
	if !reflect.DeepEqual(macs, want) {
		t.Errorf("neighbourMACs = %v, want %v", macs, want)
	}
	var v wire.NetworkView
	gatewayView(&v, []netip.Addr{netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("198.18.1.9")}, macs)
	if !reflect.DeepEqual(v.Gateways, []string{"198.18.1.1", "2001:db8::1", "198.18.1.9"}) || !reflect.DeepEqual(v.GatewayMACs, []string{"02:00:00:00:01:01"}) {
		t.Errorf("gatewayView = %+v", v)
	}
	// What the gateway's MAC makes of a policy.
	pol := wire.NetworkPolicy{Rules: []wire.TrustedNetwork{{ID: "r", Kind: wire.TrustGatewayMAC, Value: "02:00:00:00:01:01"}}}
	if _, err := pol.Check(v); err != nil {
		t.Errorf("gateway MAC rule: %v", err)
	}
}

func TestReadNetworkViewHasNoLoopback(t *testing.T) {
	v := readNetworkView()
	for _, a := range v.Addresses {
		p, err := netip.ParsePrefix(a)
		if err != nil || p.Addr().IsLoopback() {
			t.Errorf("address %q: %v (loopback must be left out)", a, err)
		}
	}
	t.Logf("this host: %s", v)
}

func TestScaleSchedules(t *testing.T) {
	cfg := config.Default()
	got := scaleSchedules(cfg, 3600)
	if got.InventoryInterval != 24*time.Second || got.DeltaInterval != time.Second || got.HeartbeatInterval != 5*time.Minute/3600 ||
		got.StartDelay != time.Minute/3600 {
		t.Errorf("scaleSchedules(3600) = %+v", got)
	}
	if got.RetryMin != cfg.RetryMin || got.RetryMax != cfg.RetryMax || got.SendTimeout != cfg.SendTimeout {
		t.Errorf("scaleSchedules changed the delivery's real-time pacing: %+v", got)
	}
	if got := scaleSchedules(cfg, 1); got != cfg {
		t.Errorf("scale 1 changed the config")
	}
	if got := scaleSchedules(config.Config{HeartbeatInterval: time.Second}, 1e6); got.HeartbeatInterval != time.Millisecond {
		t.Errorf("scaled heartbeat = %v, want the 1ms floor", got.HeartbeatInterval)
	}
	if clockScale() != 1 {
		t.Errorf("clockScale() = %v in a build without the umbra_testclock tag", clockScale())
	}
}
