package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/testbed"
	"github.com/umbrasec/umbra/shared/wire"
)

// TestScanIntegration runs `umbra-agent scan` on the simulated office
// network from its scanner namespace, end to end: sweep, SNMP with the
// bed's credentials, mDNS, identification.
func TestScanIntegration(t *testing.T) {
	n := testbed.Up(t, 0)
	n.RunInScanner(t, "TestScanInScanner")
}

func scanJSON(t *testing.T, args ...string) (wire.Discovery, time.Duration) {
	t.Helper()
	start := time.Now()
	code, out, errs := run(t, append([]string{"scan", "--json"}, args...)...)
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("scan %v exited %d: %s", args, code, errs)
	}
	var d wire.Discovery
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("scan --json output does not decode as wire.Discovery: %v", err)
	}
	return d, took
}

// byIP indexes observations by address and method.
func byIP(d wire.Discovery) map[string]map[wire.Method][]wire.Observation {
	m := map[string]map[wire.Method][]wire.Observation{}
	for _, o := range d.Observations {
		if m[o.IP] == nil {
			m[o.IP] = map[wire.Method][]wire.Observation{}
		}
		m[o.IP][o.Method] = append(m[o.IP][o.Method], o)
	}
	return m
}

// kindOf returns the kind the host's own observations settle on: the
// first kind hint of the first observation of the host that has one.
func kindOf(d wire.Discovery, ip string) string {
	for _, o := range d.Observations {
		if o.IP == ip && o.Via == "" && len(o.Kinds) > 0 && o.Method != wire.MethodSNMP && o.Method != wire.MethodMDNS {
			return o.Kinds[0].Kind
		}
	}
	return ""
}

func TestScanInScanner(t *testing.T) {
	n := testbed.Child(t)
	lan := n.Subnets[0] // 198.18.1.0/24
	router, _ := n.Host("router")
	sw, _ := n.Host("switch")
	printer, _ := n.Host("printer")
	server, _ := n.Host("server")
	media, _ := n.Host("media")

	// Communities only: the v3-only server must not answer SNMP.
	d, took := scanJSON(t, lan, "--snmp-community", "umbra-ro", "--snmp-community", "public")
	t.Logf("scan of %s with two communities: %d observations in %v, errors %v", lan, len(d.Observations), took.Round(time.Millisecond), d.Errors)
	m := byIP(d)
	if len(m[server.IP][wire.MethodSNMP]) != 0 {
		t.Errorf("the v3-only server answered a community: %+v", m[server.IP][wire.MethodSNMP])
	}

	// With the v3 credential as well.
	d, took = scanJSON(t, lan, "--snmp-community", "umbra-ro", "--snmp-community", "public",
		"--snmp-v3", "umbrav3:SHA:umbra-auth-pass:AES:umbra-priv-pass")
	t.Logf("scan of %s with communities and v3: %d observations in %v, errors %v", lan, len(d.Observations), took.Round(time.Millisecond), d.Errors)
	m = byIP(d)
	for _, o := range d.Observations {
		if err := wire.CheckMethod(o.Method); err != nil {
			t.Errorf("observation %+v: method %v", o, err)
		}
	}

	check := func(h testbed.Host, kind, vendor string) {
		t.Helper()
		snmp := m[h.IP][wire.MethodSNMP]
		if len(snmp) == 0 {
			t.Errorf("%s (%s): no SNMP observation", h.Name, h.IP)
			return
		}
		if got := kindOf(d, h.IP); got != kind {
			t.Errorf("%s: kind %q, want %q", h.Name, got, kind)
		}
		if snmp[0].Vendor != vendor {
			t.Errorf("%s: vendor %q, want %q", h.Name, snmp[0].Vendor, vendor)
		}
		t.Logf("%s: %s, %s %s, kind %s: %s", h.Name, h.IP, snmp[0].Vendor, snmp[0].Model, kindOf(d, h.IP), snmp[0].Kinds[0].Reason)
	}
	check(router, wire.KindRouter, "Cisco")
	check(sw, wire.KindSwitch, "Cisco")
	check(printer, wire.KindPrinter, "HP")
	check(server, wire.KindServer, "Net-SNMP")
	if ev := m[server.IP][wire.MethodSNMP][0].Evidence; !slices.Contains(ev, wire.Evidence{Key: "snmp.credential", Value: "v3 user umbrav3 auth SHA priv AES"}) {
		t.Errorf("server: answered with %v, want the v3 user", ev)
	}

	// The switch's forwarding table: which port each office MAC is on.
	fdb := map[string]string{}
	for _, o := range d.Observations {
		if o.Method == wire.MethodSNMPFDB && o.Via == sw.IP {
			fdb[o.MAC] = o.Port
		}
	}
	t.Logf("switch forwarding table: %v", fdb)
	for _, h := range []testbed.Host{router, printer, server, media} {
		if fdb[h.MAC] == "" {
			t.Errorf("switch: no forwarding entry for %s (%s)", h.Name, h.MAC)
		}
	}

	// Hosts on 198.18.2.0/24, learned from the router's ARP table only.
	for _, h := range n.Hosts {
		if h.Subnet != n.Subnets[1] {
			continue
		}
		arp := m[h.IP][wire.MethodSNMPARP]
		if len(arp) == 0 || arp[0].MAC != h.MAC || arp[0].Via != router.IP {
			t.Errorf("%s (%s) on %s: snmp-arp %+v, want MAC %s via %s", h.Name, h.IP, h.Subnet, arp, h.MAC, router.IP)
		}
		if len(m[h.IP]) != 1 {
			t.Errorf("%s (%s) is outside the target and was probed: %v", h.Name, h.IP, m[h.IP])
		}
	}

	// mDNS: the printer's and the media device's services with their TXT.
	for _, c := range []struct {
		h    testbed.Host
		want string
		kind string
	}{{printer, "mdns.txt _ipp._tcp ty=HP LaserJet Pro M404dn", wire.KindPrinter}, {media, "mdns.txt _googlecast._tcp md=Chromecast", wire.KindMedia}} {
		md := m[c.h.IP][wire.MethodMDNS]
		if len(md) == 0 {
			t.Errorf("%s: no mDNS observation", c.h.Name)
			continue
		}
		var evs []string
		for _, e := range md[0].Evidence {
			evs = append(evs, e.Key+" "+e.Value)
		}
		if !slices.Contains(evs, c.want) {
			t.Errorf("%s: mDNS evidence %q, want %q among it", c.h.Name, evs, c.want)
		}
		if got := kindOf(d, c.h.IP); got != c.kind {
			t.Errorf("%s: kind %q, want %q", c.h.Name, got, c.kind)
		}
	}

	// --no-snmp and --no-mdns leave them out.
	d, _ = scanJSON(t, lan, "--no-snmp", "--no-mdns", "--no-names", "--profile", "fast")
	for _, o := range d.Observations {
		if o.Method == wire.MethodSNMP || o.Method == wire.MethodMDNS || o.Method == wire.MethodSNMPARP {
			t.Errorf("--no-snmp --no-mdns scan made a %s observation", o.Method)
			break
		}
	}

	// The table for people.
	code, out, errs := run(t, "scan", lan, "--snmp-community", "umbra-ro", "--snmp-community", "public", "--profile", "fast")
	if code != 0 {
		t.Fatalf("scan exited %d: %s", code, errs)
	}
	t.Logf("the table:\n%s", out)
	for _, want := range []string{"rtr-office-1", "router", "switch", "printer", "198.18.2.10"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q", want)
		}
	}

	// umbra-agent snmp walk: the switch's system group and ifTable, v2c and
	// v3, printed the way snmpbulkwalk -On prints them.
	t.Run("snmp-walk", func(t *testing.T) {
		code, out, errs := run(t, "snmp", "walk", sw.IP, "1.3.6.1.2.1.1", "1.3.6.1.2.1.2.2.1.2", "--snmp-community", "umbra-ro")
		if code != 0 {
			t.Fatalf("snmp walk exited %d: %s", code, errs)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if want := ".1.3.6.1.2.1.1.5.0 = STRING: \"" + sw.SysName + "\""; !slices.Contains(lines, want) {
			t.Errorf("no %q among the %d lines: %.400s", want, len(lines), out)
		}
		if want := ".1.3.6.1.2.1.1.2.0 = OID: ." + strings.TrimPrefix(sw.SysOID, "."); sw.SysOID != "" && !slices.Contains(lines, want) {
			t.Errorf("no %q among the %d lines", want, len(lines))
		}
		descr := 0
		for _, l := range lines {
			if strings.HasPrefix(l, ".1.3.6.1.2.1.2.2.1.2.") {
				descr++
			}
		}
		if descr < 2 {
			t.Errorf("%d ifDescr lines, want the switch's interfaces", descr)
		}
		// The v3-only server answers its user and nothing else.
		code, out, _ = run(t, "snmp", "walk", server.IP, "1.3.6.1.2.1.1.5", "--snmp-v3", "umbrav3:SHA:umbra-auth-pass:AES:umbra-priv-pass")
		if code != 0 || !strings.Contains(out, ".1.3.6.1.2.1.1.5.0 = STRING: ") {
			t.Errorf("v3 walk of the server: exit %d, %q", code, out)
		}
		code, _, errs = run(t, "snmp", "walk", server.IP, "1.3.6.1.2.1.1.5", "--snmp-community", "umbra-ro", "--timeout", "200ms")
		if code != 1 || errs == "" {
			t.Errorf("a community on the v3-only server: exit %d, stderr %q; want 1 and a reason", code, errs)
		}
		for _, bad := range [][]string{
			{"snmp", "walk", "not-an-ip", "1.3.6"},
			{"snmp", "walk", sw.IP, "1.3.x"},
			{"snmp", "walk", sw.IP},
			{"snmp", "walk", sw.IP, "1.3.6", "--snmp-community", "a", "--snmp-community", "b"},
			{"snmp", "bogus"},
		} {
			if code, _, _ := run(t, bad...); code == 0 {
				t.Errorf("%v exited 0", bad)
			}
		}
	})
}
