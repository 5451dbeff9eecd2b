package identify

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name      string
		e         Evidence
		kind      string
		vendor    string
		reasonHas string
	}{
		{"cisco router", Evidence{SysObjectID: "1.3.6.1.4.1.9.1.1047", SysDescr: "Cisco IOS Software, C2900 Software (C2900-UNIVERSALK9-M), Version 15.7(3)M4", SysServices: 78},
			wire.KindRouter, "Cisco", "C2900"},
		{"cisco switch", Evidence{SysObjectID: "1.3.6.1.4.1.9.1.1208", SysDescr: "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M)", SysServices: 2},
			wire.KindSwitch, "Cisco", "C2960"},
		{"layer 2 only", Evidence{SysServices: 2}, wire.KindSwitch, "", "sysServices 2"},
		{"hp printer", Evidence{SysObjectID: "1.3.6.1.4.1.11.2.3.9.1", SysDescr: "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153", SysServices: 72, HostResources: true},
			wire.KindPrinter, "HP", "JETDIRECT"},
		{"brother by enterprise", Evidence{SysObjectID: "1.3.6.1.4.1.2435.2.3.9.1"}, wire.KindPrinter, "Brother", "enterprise 2435"},
		{"linux server", Evidence{SysObjectID: "1.3.6.1.4.1.8072.3.2.10", SysDescr: "Linux srv 6.1.0-28-amd64 #1 SMP Debian x86_64", SysServices: 72, HostResources: true},
			wire.KindServer, "Net-SNMP", "Linux"},
		{"mikrotik", Evidence{SysObjectID: "1.3.6.1.4.1.14988.1", SysDescr: "RouterOS CCR1009"}, wire.KindRouter, "MikroTik", "RouterOS"},
		{"aironet", Evidence{SysDescr: "Cisco IOS Software, C1240 Software (C1240-K9W7-M), Aironet"}, wire.KindAccessPoint, "", "Aironet"},
		{"windows workstation", Evidence{SysDescr: "Hardware: Intel64 Family 6 Model 158 - Software: Windows Version 10.0 (Build 19045 Multiprocessor Free)"}, wire.KindWorkstation, "", "Windows"},
		{"mdns printer", Evidence{MDNSServices: []string{"_ipp._tcp.local.", "_pdl-datastream._tcp"}}, wire.KindPrinter, "", "_ipp._tcp"},
		{"chromecast", Evidence{MDNSServices: []string{"_googlecast._tcp"}, OpenPorts: []int{8008, 8009}}, wire.KindMedia, "", "_googlecast"},
		{"homekit", Evidence{MDNSServices: []string{"_hap._tcp"}}, wire.KindIoT, "", "_hap._tcp"},
		{"camera by ports", Evidence{OpenPorts: []int{80, 554}}, wire.KindCamera, "", "554"},
		{"camera by OUI", Evidence{MACVendor: "Hangzhou Hikvision Digital Technology Co.,Ltd.", OpenPorts: []int{80}}, wire.KindCamera, "Hangzhou Hikvision Digital Technology Co.,Ltd.", "Hikvision"},
		{"rdp", Evidence{OpenPorts: []int{3389}}, wire.KindWorkstation, "", "3389"},
		{"jetdirect port", Evidence{OpenPorts: []int{80, 631, 9100}}, wire.KindPrinter, "", "9100"},
		{"ssh only", Evidence{OpenPorts: []int{22}}, wire.KindServer, "", "22"},
		{"randomised MAC is weak", Evidence{MACLocal: true}, wire.KindUnknown, "", "no decisive"},
		{"phone by LLDP", Evidence{LLDPCaps: []string{"bridge", "telephone"}, SysDescr: "Cisco IP Phone 8841"}, wire.KindPhone, "", "IP Phone"},
		{"nothing", Evidence{}, wire.KindUnknown, "", "no decisive"},
		{"web only", Evidence{OpenPorts: []int{80, 443}}, wire.KindUnknown, "", "no decisive"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := Classify(c.e)
			if v.Kind != c.kind || v.Vendor != c.vendor || !strings.Contains(v.Reason, c.reasonHas) {
				t.Errorf("Classify(%+v) = %s (vendor %q) because %q; want %s (vendor %q) because …%s…", c.e, v.Kind, v.Vendor, v.Reason, c.kind, c.vendor, c.reasonHas)
			}
			if v.Kind != wire.KindUnknown && (len(v.Hints) == 0 || v.Hints[0].Kind != v.Kind) {
				t.Errorf("hints %+v do not start with %s", v.Hints, v.Kind)
			}
		})
	}
}

func TestEnterprise(t *testing.T) {
	for _, c := range []struct {
		oid    string
		n      int
		vendor string
		ok     bool
	}{
		{"1.3.6.1.4.1.9.1.1208", 9, "Cisco", true},
		{".1.3.6.1.4.1.2636.1.1.1.2.29", 2636, "Juniper Networks", true},
		{"1.3.6.1.4.1.424242", 424242, "", true},
		{"1.3.6.1.2.1.1", 0, "", false},
		{"1.3.6.1.4.1.x", 0, "", false},
		{"", 0, "", false},
	} {
		n, v, ok := Enterprise(c.oid)
		if n != c.n || v != c.vendor || ok != c.ok {
			t.Errorf("Enterprise(%q) = %d, %q, %v; want %d, %q, %v", c.oid, n, v, ok, c.n, c.vendor, c.ok)
		}
	}
}

// nodeStatusResponse builds a response as Windows sends it.
func nodeStatusResponse(id uint16, names []NBName, mac []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = append(b, 0x84, 0x00, 0, 0, 0, 1, 0, 0, 0, 0)
	q := EncodeNodeStatusQuery(id)
	b = append(b, q[12:12+34]...) // the name
	b = append(b, 0, 0x21, 0, 1, 0, 0, 0, 0)
	rd := []byte{byte(len(names))}
	for _, n := range names {
		var e [18]byte
		copy(e[:15], []byte(n.Name + "               ")[:15])
		e[15] = n.Suffix
		if n.Group {
			e[16] = 0x80
		}
		rd = append(rd, e[:]...)
	}
	rd = append(rd, mac...)
	rd = append(rd, make([]byte, 40)...) // statistics
	b = binary.BigEndian.AppendUint16(b, uint16(len(rd)))
	return append(b, rd...)
}

func TestNodeStatus(t *testing.T) {
	q := EncodeNodeStatusQuery(0x1234)
	if len(q) != 50 || !bytes.Equal(q[13:15], []byte("CK")) || q[len(q)-3] != 0x21 {
		t.Errorf("EncodeNodeStatusQuery = %x", q)
	}
	resp := nodeStatusResponse(0x1234, []NBName{{"DESKTOP-7F3A", 0, false}, {"WORKGROUP", 0, true}, {"DESKTOP-7F3A", 0x20, false}},
		[]byte{0x00, 0x1b, 0x21, 1, 2, 3})
	st, err := ParseNodeStatus(resp, 0x1234)
	if err != nil {
		t.Fatal(err)
	}
	if st.Hostname() != "DESKTOP-7F3A" || st.Workgroup() != "WORKGROUP" || st.MAC.String() != "00:1b:21:01:02:03" || len(st.Names) != 3 {
		t.Errorf("ParseNodeStatus = %+v", st)
	}
	if _, err := ParseNodeStatus(resp, 0x9999); err == nil {
		t.Error("a response to another query was accepted")
	}
	for n := range len(resp) {
		ParseNodeStatus(resp[:n], 0x1234) // truncations must not panic
	}
}

// TestQueryNetBIOS answers a query from a fake responder on loopback.
func TestQueryNetBIOS(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 137})
	if err != nil {
		t.Skipf("cannot listen on UDP 137 (needs root): %v", err)
	}
	defer conn.Close()
	go func() {
		buf := make([]byte, 512)
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil || n < 12 {
			return
		}
		id := binary.BigEndian.Uint16(buf)
		conn.WriteToUDP([]byte("garbage"), from)
		conn.WriteToUDP(nodeStatusResponse(id, []NBName{{"FILESRV", 0, false}}, make([]byte, 6)), from)
	}()
	st, ok, err := QueryNetBIOS(t.Context(), netip.MustParseAddr("127.0.0.1"), time.Second)
	if err != nil || !ok || st.Hostname() != "FILESRV" {
		t.Errorf("QueryNetBIOS = %+v, %v, %v", st, ok, err)
	}
	// Nothing listens on 127.0.0.2:137: no answer, no error, quickly.
	start := time.Now()
	if _, ok, err := QueryNetBIOS(t.Context(), netip.MustParseAddr("127.0.0.2"), 300*time.Millisecond); ok || err != nil {
		t.Errorf("QueryNetBIOS(nothing) = %v, %v", ok, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("QueryNetBIOS(nothing) took %v", d)
	}
}

// TestReverseDNSWithoutDNS uses a resolver whose server refuses: no name,
// no error.
func TestReverseDNSWithoutDNS(t *testing.T) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, "127.0.0.1:1") // nothing listens
	}}
	name, err := ReverseDNS(t.Context(), r, netip.MustParseAddr("198.18.1.10"), 500*time.Millisecond)
	if name != "" || err != nil {
		t.Errorf("ReverseDNS = %q, %v; want no name and no error", name, err)
	}
}

func FuzzParseNodeStatus(f *testing.F) {
	f.Add(nodeStatusResponse(7, []NBName{{"HOST", 0, false}}, []byte{1, 2, 3, 4, 5, 6}))
	f.Add([]byte{0, 7, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 0x0c, 0, 0x21, 0, 1, 0, 0, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseNodeStatus(b, 7)
		if err != nil {
			return
		}
		for _, n := range st.Names {
			if len(n.Name) > 15*3 {
				t.Fatalf("name %q too long", n.Name)
			}
		}
	})
}

func FuzzCleanName(f *testing.F) {
	f.Add("host.example.com")
	f.Add("\xff\x00\n")
	f.Fuzz(func(t *testing.T, s string) {
		out := CleanName(s)
		if len(out) > 255*3 {
			t.Fatalf("CleanName gave %d bytes", len(out))
		}
		for _, r := range out {
			if r < 0x20 {
				t.Fatalf("control character in %q", out)
			}
		}
	})
}

func TestEnterpriseTable(t *testing.T) {
	if n := PENs(); n < 60000 {
		t.Fatalf("the embedded IANA table names %d enterprises; want the whole registry (> 60000)", n)
	}
	for _, c := range []struct {
		oid    string
		num    int
		vendor string
	}{
		{"1.3.6.1.4.1.9.1.1208", 9, "Cisco"},                      // a short name wins
		{".1.3.6.1.4.1.8072.3.2.10", 8072, "Net-SNMP"},            // leading dot
		{"1.3.6.1.4.1.3.1", 3, "Carnegie Mellon"},                 // from the table
		{"1.3.6.1.4.1.2.3.4", 2, "IBM"},                           // a URL in the registrant is dropped
		{"1.3.6.1.4.1.4294967295.1", 4294967295, ""},              // beyond the registry
		{"1.3.6.1.4.1.99999999999999999999.1", 0, "not a number"}, // overflows
	} {
		n, v, ok := Enterprise(c.oid)
		if c.vendor == "not a number" {
			if ok {
				t.Errorf("Enterprise(%q) = %d, %q, true; want not ok", c.oid, n, v)
			}
			continue
		}
		if !ok || n != c.num || v != c.vendor {
			t.Errorf("Enterprise(%q) = %d, %q, %v; want %d, %q", c.oid, n, v, ok, c.num, c.vendor)
		}
	}
	// Every registrant name is clean text, and the numbers increase (the
	// lookup stops early on that).
	last := -1
	if err := eachPEN(func(n int, b []byte) bool {
		name := string(b)
		if n <= last || name == "" || strings.ContainsAny(name, "\t\r\x00") {
			t.Fatalf("enterprise %d after %d: bad entry %q", n, last, name)
		}
		last = n
		return true
	}); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRegistrantUncached is the cost of a vendor not looked up yet:
// one read of the compressed table up to its number.
func BenchmarkRegistrantUncached(b *testing.B) {
	for b.Loop() {
		penMu.Lock()
		clear(penCache)
		penMu.Unlock()
		if registrant(41112) == "" {
			b.Fatal("no name for 41112")
		}
	}
}
