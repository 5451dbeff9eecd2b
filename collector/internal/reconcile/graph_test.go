package reconcile

import (
	"fmt"
	"math/rand"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func at(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

func inv(ref, agent, serial, hostid string, h int, macs ...string) Observation {
	return Observation{Ref: ref, At: at(h), Observer: agent, Method: "self", AgentID: agent, Serial: serial, HostID: hostid, MACs: macs, Hostname: agent + "-host"}
}

func seen(ref, method, observer, mac, ip, host string, h int) Observation {
	return Observation{Ref: ref, At: at(h), Observer: observer, Method: method, MAC: mac, IP: ip, Hostname: host}
}

// groups renders devices as sorted identifier lists, one per device.
func groups(ds []Device) []string {
	var out []string
	for _, d := range ds {
		var ids []string
		for _, x := range d.Identifiers {
			ids = append(ids, x.ID)
		}
		sort.Strings(ids)
		out = append(out, strings.Join(ids, " "))
	}
	sort.Strings(out)
	return out
}

func TestResolve(t *testing.T) {
	const (
		g1 = "00:1b:21:00:00:01" // globally administered
		g2 = "00:1b:21:00:00:02"
		g3 = "00:1b:21:00:00:03"
		r1 = "da:a1:19:00:00:01" // locally administered (randomised)
		r2 = "da:a1:19:00:00:02"
		r3 = "da:a1:19:00:00:03"
	)
	tests := []struct {
		name   string
		obs    []Observation
		splits []Split
		want   []string
	}{
		{
			name: "docked laptop with two NICs is one device",
			obs: []Observation{
				inv("i1", "A", "SN-LAP1", "hid-a", 0, g1, g2),
				seen("o1", "arp", "X", g1, "10.0.0.5", "", 1),
				seen("o2", "arp", "X", g2, "10.0.0.6", "", 2),
			},
			want: []string{"agent:A hostid:hid-a mac:" + g1 + " mac:" + g2 + " serial:sn-lap1"},
		},
		{
			name: "a router's interfaces described by its own SNMP agent are one device",
			obs: []Observation{
				{Ref: "s1", At: at(0), Observer: "X", Method: "snmp", IP: "10.0.0.1", MAC: g1, Hostname: "rtr"},
				{Ref: "s2", At: at(0), Observer: "X", Method: "snmp", IP: "10.0.1.1", MAC: g2, Hostname: "rtr", Via: "10.0.0.1", Port: "eth1"},
				// Another walk's interface, of another device: not folded in.
				{Ref: "s3", At: at(1), Observer: "X", Method: "snmp", IP: "10.0.2.1", MAC: g3, Hostname: "rtr2", Via: "10.0.0.9"},
			},
			want: []string{"mac:" + g1 + " mac:" + g2, "mac:" + g3},
		},
		{
			name: "placeholder serials never link",
			obs: []Observation{
				inv("i1", "A", "To be filled by O.E.M.", "", 0, g1),
				inv("i2", "B", "To Be Filled By O.E.M.", "", 0, g2),
			},
			want: []string{"agent:A mac:" + g1, "agent:B mac:" + g2},
		},
		{
			name: "a phone rotating randomised MACs is one device",
			obs: []Observation{
				{Ref: "d1", At: at(0), Observer: "X", Method: "dhcp", MAC: r1, Hostname: "Annas-iPhone", ClientID: "01:" + r1},
				seen("a1", "arp", "X", r1, "10.0.0.50", "", 1),
				{Ref: "d2", At: at(24), Observer: "X", Method: "dhcp", MAC: r2, Hostname: "Annas-iPhone", ClientID: "01:" + r2},
				seen("a2", "arp", "X", r2, "10.0.0.51", "", 25),
				{Ref: "d3", At: at(48), Observer: "X", Method: "mdns", MAC: r3, Hostname: "annas-iphone"},
			},
			want: []string{"rmac:" + r1 + " rmac:" + r2 + " seenname:X/annas-iphone"},
		},
		{
			name: "randomised MACs without a name share one anonymous bucket per observer",
			obs: []Observation{
				seen("a1", "arp", "X", r1, "10.0.0.50", "", 1),
				seen("a2", "arp", "X", r2, "10.0.0.51", "", 2),
			},
			want: []string{"anon:X"},
		},
		{
			name: "a randomised MAC an agent reports belongs to its host",
			obs: []Observation{
				inv("i1", "A", "SN1", "", 0, g1, r1),
				seen("a1", "arp", "X", r1, "10.0.0.9", "", 1),
			},
			want: []string{"agent:A mac:" + g1 + " rmac:" + r1 + " serial:sn1"},
		},
		{
			name: "an IP is never identity: DHCP churn gives two devices",
			obs: []Observation{
				seen("a1", "arp", "X", g1, "10.0.0.7", "", 0),
				seen("a2", "arp", "X", g2, "10.0.0.7", "", 5),
				{Ref: "i1", At: at(6), Observer: "X", Method: "icmp", IP: "10.0.0.7"},
			},
			want: []string{"mac:" + g1, "mac:" + g2},
		},
		{
			name: "cloned VMs with one host id and different serials are not merged",
			obs: []Observation{
				inv("i1", "A", "VMware-56 4d 01", "cloned-uuid", 0, "00:50:56:00:00:01"),
				inv("i2", "B", "VMware-56 4d 02", "cloned-uuid", 1, "00:50:56:00:00:02"),
			},
			want: []string{"agent:A hostid:cloned-uuid mac:00:50:56:00:00:01 serial:vmware-56 4d 01", "agent:B mac:00:50:56:00:00:02 serial:vmware-56 4d 02"},
		},
		{
			name: "cloned VMs without serials reporting at once are not merged",
			obs: []Observation{
				inv("i1", "A", "", "cloned-uuid", 0, "52:54:00:00:00:01"),
				inv("i2", "B", "", "cloned-uuid", 1, "52:54:00:00:00:02"),
				inv("i3", "A", "", "cloned-uuid", 2, "52:54:00:00:00:01"),
				inv("i4", "B", "", "cloned-uuid", 3, "52:54:00:00:00:02"),
			},
			want: []string{"agent:A hostid:cloned-uuid rmac:52:54:00:00:00:01", "agent:B rmac:52:54:00:00:00:02"},
		},
		{
			name: "an agent reinstalled on the same machine is one device",
			obs: []Observation{
				inv("i1", "A", "", "hid-1", 0, "52:54:00:00:00:01"),
				inv("i2", "B", "", "hid-1", 100, "52:54:00:00:00:01"),
			},
			want: []string{"agent:A agent:B hostid:hid-1 rmac:52:54:00:00:00:01"},
		},
		{
			name: "a shared dock's NIC does not merge two laptops",
			obs: []Observation{
				inv("i1", "A", "SN-A", "", 0, g1, g3),
				inv("i2", "B", "SN-B", "", 5, g2, g3),
			},
			want: []string{"agent:A mac:" + g1 + " mac:" + g3 + " serial:sn-a", "agent:B mac:" + g2 + " serial:sn-b"},
		},
		{
			name: "an operator split stays split",
			obs: []Observation{
				inv("i1", "A", "SN-A", "", 0, g1, g2),
				inv("i2", "A", "SN-A", "", 10, g1, g2),
				seen("a1", "arp", "X", g2, "10.0.0.8", "", 11),
			},
			splits: []Split{{ID: "s1", Identifiers: []string{"mac:" + g2}}},
			want:   []string{"agent:A mac:" + g1 + " serial:sn-a", "mac:" + g2},
		},
		{
			name: "a randomised MAC two machines share does not merge them",
			obs: []Observation{
				inv("i1", "A", "", "", 0, "02:00:00:00:00:00", g1),
				inv("i2", "B", "", "", 1, "02:00:00:00:00:00", g2),
			},
			want: []string{"agent:A mac:" + g1 + " rmac:02:00:00:00:00:00", "agent:B mac:" + g2},
		},
		{
			name: "a switch forwarding table only sees a MAC",
			obs: []Observation{
				{Ref: "f1", At: at(0), Observer: "X", Method: "snmp-fdb", MAC: g1, Via: "sw1", Port: "Gi1/0/7"},
			},
			want: []string{"mac:" + g1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := groups(Resolve(tt.obs, tt.splits, nil))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Resolve = \n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestResolveDeterministic(t *testing.T) {
	var obs []Observation
	for i := range 30 {
		obs = append(obs, inv(fmt.Sprintf("i%d", i), fmt.Sprintf("A%d", i%7), fmt.Sprintf("SN%d", i%5), "", i, fmt.Sprintf("00:1b:21:00:00:%02x", i%11)))
		obs = append(obs, seen(fmt.Sprintf("s%d", i), "arp", "X", fmt.Sprintf("00:1b:21:00:01:%02x", i%4), "10.0.0.1", "", i))
	}
	want := Resolve(obs, nil, nil)
	rng := rand.New(rand.NewSource(1))
	for range 5 {
		rng.Shuffle(len(obs), func(i, j int) { obs[i], obs[j] = obs[j], obs[i] })
		if got := Resolve(obs, nil, nil); !reflect.DeepEqual(got, want) {
			t.Fatal("Resolve depends on the order of its input")
		}
	}
}

func TestResolveExplainsAndLocates(t *testing.T) {
	obs := []Observation{
		inv("i1", "A", "VM-1", "clone", 0, "00:50:56:00:00:01"),
		inv("i2", "B", "VM-2", "clone", 1, "00:50:56:00:00:02"),
		{Ref: "f1", At: at(2), Observer: "A", Method: "snmp-fdb", MAC: "00:50:56:00:00:02", Via: "sw1", Port: "7", IP: "10.1.2.3"},
	}
	ds := Resolve(obs, nil, []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")})
	var b *Device
	for i := range ds {
		if len(ds[i].Agents) == 1 && ds[i].Agents[0] == "B" {
			b = &ds[i]
		}
	}
	if b == nil {
		t.Fatalf("no device of agent B in %+v", ds)
	}
	var refused bool
	for _, e := range b.Evidence {
		if strings.HasPrefix(e.Outcome, "refused: different serials") {
			refused = true
		}
	}
	if !refused {
		t.Errorf("B's evidence does not explain the refused merge: %+v", b.Evidence)
	}
	if !reflect.DeepEqual(b.Subnets, []string{"10.1.0.0/16"}) || !reflect.DeepEqual(b.SwitchPorts, []string{"sw1 port 7"}) {
		t.Errorf("B located in %v, %v", b.Subnets, b.SwitchPorts)
	}
}

func FuzzResolve(f *testing.F) {
	f.Add([]byte("self A SN1 00:1b:21:00:00:01\narp X 00:1b:21:00:00:01 10.0.0.1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var obs []Observation
		for i, line := range strings.Split(string(data), "\n") {
			w := strings.Fields(line)
			if len(w) < 2 || i > 50 {
				continue
			}
			o := Observation{Ref: fmt.Sprint(i), At: at(i % 7), Method: w[0], Observer: w[1]}
			if len(w) > 2 {
				o.MAC, o.Serial, o.HostID = w[2], w[2], w[2]
			}
			if len(w) > 3 {
				o.IP, o.MACs, o.Hostname = w[3], w[3:], w[3]
			}
			if o.Method == "self" {
				o.AgentID = o.Observer
			}
			obs = append(obs, o)
		}
		a := Resolve(obs, nil, nil)
		rand.New(rand.NewSource(int64(len(data)))).Shuffle(len(obs), func(i, j int) { obs[i], obs[j] = obs[j], obs[i] })
		if b := Resolve(obs, nil, nil); !reflect.DeepEqual(a, b) {
			t.Fatal("Resolve depends on the order of its input")
		}
	})
}
