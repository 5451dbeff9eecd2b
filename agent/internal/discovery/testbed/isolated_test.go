package testbed

import "testing"

func TestCheckIsolated(t *testing.T) {
	const head = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	// 198.18.1.0/24 on eth0, 198.18.2.0/24 via 198.18.1.1, 198.18.255.4/30 on mgmt0
	const bed = head +
		"eth0\t000112C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"eth0\t000212C6\t010112C6\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	const mgmtRoute = "mgmt0\t04FF12C6\t00000000\t0001\t0\t0\t0\tFCFFFFFF\t0\t0\t0\n"
	m := &Mgmt{Prefix: "198.18.255.4/30", ScannerIf: "mgmt0"}
	for _, tc := range []struct {
		name   string
		routes string
		ifaces []string
		m      *Mgmt
		ok     bool
	}{
		{"bed", bed, []string{"lo", "eth0"}, nil, true},
		{"default route", bed + "eth0\t00000000\t010112C6\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", []string{"lo", "eth0"}, nil, false},
		{"extra interface", bed, []string{"lo", "eth0", "eth1"}, nil, false},
		{"mgmt without description", bed + mgmtRoute, []string{"lo", "eth0", "mgmt0"}, nil, false},
		{"mgmt", bed + mgmtRoute, []string{"lo", "eth0", "mgmt0"}, m, true},
		{"mgmt default route", bed + mgmtRoute + "mgmt0\t00000000\t05FF12C6\t0003\t0\t0\t0\t00000000\t0\t0\t0\n", []string{"lo", "eth0", "mgmt0"}, m, false},
		{"mgmt wider route", bed + "mgmt0\t0000000A\t05FF12C6\t0003\t0\t0\t0\t000000FF\t0\t0\t0\n", []string{"lo", "eth0", "mgmt0"}, m, false},
		{"mgmt and another interface", bed + mgmtRoute, []string{"lo", "eth0", "mgmt0", "wlan0"}, m, false},
		{"mgmt outside the test range", bed, []string{"lo", "eth0", "mgmt0"}, &Mgmt{Prefix: "10.0.0.0/30", ScannerIf: "mgmt0"}, false},
		{"mgmt too wide", bed, []string{"lo", "eth0", "mgmt0"}, &Mgmt{Prefix: "198.18.255.0/24", ScannerIf: "mgmt0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkIsolated(tc.routes, tc.ifaces, tc.m)
			if (err == nil) != tc.ok {
				t.Errorf("checkIsolated = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
