package netconf

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"testing/fstest"
)

func TestGateways(t *testing.T) {
	route := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n" +
		"eth1\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n"
	if got := fmt.Sprint(Gateways([]byte(route))); got != "[192.0.2.1 192.168.1.1]" {
		t.Errorf("Gateways = %s, want [192.0.2.1 192.168.1.1]", got)
	}
	route6 := "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0\n" +
		"00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n" +
		"00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
	if got := fmt.Sprint(Gateways6([]byte(route6))); got != "[fd00::1]" {
		t.Errorf("Gateways6 = %s, want [fd00::1]", got)
	}
	resolv := "# generated\nsearch example.org\nnameserver 10.255.255.53\nnameserver  2001:db8::53 \noptions edns0\n"
	if got := fmt.Sprint(Nameservers([]byte(resolv))); got != "[10.255.255.53 2001:db8::53]" {
		t.Errorf("Nameservers = %s", got)
	}
}

func TestKind(t *testing.T) {
	root := fstest.MapFS{
		"sys/class/net/lo/type":            {Data: []byte("772\n")},
		"sys/class/net/eth0/type":          {Data: []byte("1\n")},
		"sys/class/net/eth0/device/vendor": {Data: []byte("0x8086\n")},
		"sys/class/net/wlp2s0/type":        {Data: []byte("1\n")},
		"sys/class/net/wlp2s0/device/x":    {},
		"sys/class/net/wlp2s0/phy80211/x":  {},
		"sys/class/net/br0/type":           {Data: []byte("1\n")},
	}
	for name, want := range map[string]string{"lo": KindLoopback, "eth0": KindWired, "wlp2s0": KindWireless, "br0": KindVirtual, "nope": ""} {
		if got := Kind(root, name); got != want {
			t.Errorf("Kind(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestLive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	if got := Kind(os.DirFS("/"), "lo"); got != KindLoopback {
		t.Errorf("Kind(lo) = %q on this host", got)
	}
}
