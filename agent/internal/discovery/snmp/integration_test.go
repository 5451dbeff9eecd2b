package snmp

import (
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/testbed"
	"github.com/umbrasec/umbra/shared/wire"
)

var dump = flag.String("dump", "", "write the records read from the test network's devices under `dir`/<host>/records.txt (golden test inputs)")

// TestProbeIntegration reads the simulated office network's real snmpd
// agents from the scanner namespace.
func TestProbeIntegration(t *testing.T) {
	n := testbed.Up(t, 0)
	var args []string
	if *dump != "" {
		d, err := filepath.Abs(*dump)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "-dump", d)
	}
	n.RunInScanner(t, "TestProbeInScanner", args...)
}

func TestProbeInScanner(t *testing.T) {
	n := testbed.Child(t)
	var creds []Credential
	want := map[string]bool{} // host → must answer
	for _, h := range n.Hosts {
		if len(h.SNMP) == 0 {
			continue
		}
		var c testbed.SNMPCred
		if err := json.Unmarshal(h.SNMP, &c); err != nil {
			t.Fatal(err)
		}
		cred := Credential{Version: Version(c.Version), Community: Secret(c.Community), User: c.User,
			Auth: normProto(c.Auth), AuthPass: Secret(c.AuthPass), Priv: normProto(c.Priv), PrivPass: Secret(c.PrivPass)}
		if !slices.Contains(creds, cred) {
			creds = append(creds, cred)
		}
		want[h.Name] = true
	}
	// A wrong community and a wrong v3 user are tried too, and must cost
	// nothing but time.
	creds = append([]Credential{Community("wrong-community"), {Version: V3, User: "nobody", Auth: "SHA", AuthPass: "not-the-pass", Priv: "AES", PrivPass: "not-the-pass"}}, creds...)
	p := New(Options{Credentials: creds, Timeout: 300 * time.Millisecond})

	hosts := map[netip.Addr]testbed.Host{}
	var addrs []netip.Addr
	for _, h := range n.Hosts {
		if h.Role == "scanner" {
			continue
		}
		a := netip.MustParseAddr(h.IP)
		hosts[a] = h
		addrs = append(addrs, a)
	}
	start := time.Now()
	res := p.ProbeAll(t.Context(), addrs)
	t.Logf("probed %d addresses in %v", len(addrs), time.Since(start).Round(time.Millisecond))
	for _, r := range res {
		h := hosts[r.Addr]
		if r.Device == nil {
			if want[h.Name] {
				t.Errorf("%s (%s): %v", r.Addr, h.Name, r.Err)
			}
			continue
		}
		d := r.Device
		t.Logf("%s (%s): %s, %q %s, %d interfaces, %d ARP, %d FDB, %d LLDP, %d entities, errors %v",
			r.Addr, h.Name, d.Credential, d.System.Name, d.System.ObjectID, len(d.Interfaces), len(d.ARP), len(d.FDB), len(d.LLDP), len(d.Entities), d.Errors)
		if !want[h.Name] {
			t.Errorf("%s (%s) answered SNMP, which it does not speak", r.Addr, h.Name)
		}
		if h.SysOID != "" && d.System.ObjectID != h.SysOID {
			t.Errorf("%s: sysObjectID %q, want %q", h.Name, d.System.ObjectID, h.SysOID)
		}
		if h.SysName != "" && d.System.Name != h.SysName {
			t.Errorf("%s: sysName %q, want %q", h.Name, d.System.Name, h.SysName)
		}
		if d.PrimaryMAC() != h.MAC {
			t.Errorf("%s: primary MAC %q, want %s", h.Name, d.PrimaryMAC(), h.MAC)
		}
		if len(d.Errors) > 0 {
			t.Errorf("%s: errors %v", h.Name, d.Errors)
		}
		if *dump != "" {
			recs, _, _, err := p.Collect(t.Context(), r.Addr)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(*dump, "bed-"+h.Name)
			os.MkdirAll(dir, 0o755)
			f, err := os.Create(filepath.Join(dir, "records.txt"))
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("# " + h.Name + " " + r.Addr.String() + " in the simulated office network\n")
			WriteRecords(f, recs)
			f.Close()
		}
		obs := Observations(d, time.Now(), "", nil)
		switch h.Name {
		case "router":
			got := map[string]string{}
			for _, o := range obs {
				if o.Method == wire.MethodSNMPARP {
					got[o.IP] = o.MAC
				}
			}
			for _, b := range n.Hosts {
				if b.Subnet == "198.18.2.0/24" && got[b.IP] != b.MAC {
					t.Errorf("router's ARP table: %s is %q, want %s", b.IP, got[b.IP], b.MAC)
				}
			}
			if d.Credential != "v2c community [redacted]" {
				t.Errorf("router: credential %q", d.Credential)
			}
		case "switch":
			fdb := map[string]string{}
			for _, o := range obs {
				if o.Method == wire.MethodSNMPFDB {
					fdb[o.MAC] = o.Port
				}
			}
			for _, mac := range []string{"00:00:0c:9f:f0:01", "3c:d9:2b:10:00:0a"} {
				if fdb[mac] == "" {
					t.Errorf("switch: no forwarding entry for %s in %v", mac, fdb)
				}
			}
			if p := fdb["f4:f5:d8:10:00:14"]; !strings.HasPrefix(p, "vlan 20 ") {
				t.Errorf("switch: media device on %q, want VLAN 20", p)
			}
			if len(d.Interfaces) < 25 {
				t.Errorf("switch: %d interfaces", len(d.Interfaces))
			}
			if len(d.LLDP) != 1 || d.LLDP[0].SysName != "rtr-office-1" {
				t.Errorf("switch: LLDP %+v", d.LLDP)
			}
			if c, _ := d.Chassis(); c.Serial != "FOC2041X0QH" || d.Model() != "WS-C2960X-48TS-L" {
				t.Errorf("switch: chassis %+v", c)
			}
		case "server":
			if !strings.HasPrefix(d.Credential, "v3 user umbrav3") {
				t.Errorf("server answered with %q, want the v3 user", d.Credential)
			}
			if d.Host == nil || d.Host.MemoryKB == 0 {
				t.Errorf("server: HOST-RESOURCES %+v", d.Host)
			}
		}
	}
	// The working credential was remembered.
	for a, h := range hosts {
		if _, ok := p.o.Store.Get(a); ok != want[h.Name] {
			t.Errorf("%s: credential remembered %v, want %v", h.Name, ok, want[h.Name])
		}
	}
}
