package reconcile

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// fleet generates a realistic day of observations for n devices: agent
// hosts (some docked with two NICs, some with placeholder serials, some
// cloned VMs sharing a UUID), printers behind switch ports, phones rotating
// randomised MACs (seen by ARP before and after their DHCP request, some
// without a name), hosts seen only by IP behind a router, and DHCP churn.
// Observations come in time order.
func fleet(seed uint64, n, rounds int) []Observation {
	rng := rand.New(rand.NewPCG(seed, 1))
	var obs []Observation
	refN := 0
	ref := func(prefix string) string { refN++; return fmt.Sprintf("%s%d#%d", prefix, refN/7, refN%7) }
	mac := func(i, k int) string {
		return fmt.Sprintf("00:1b:%02x:%02x:%02x:%02x", k, (i>>16)&0xff, (i>>8)&0xff, i&0xff)
	}
	rmac := func(i, r int) string {
		return fmt.Sprintf("da:%02x:%02x:%02x:%02x:%02x", r&0xff, (i>>16)&0xff, (i>>8)&0xff, i&0xff, rng.IntN(3))
	}
	ip := func(i int) string { return fmt.Sprintf("10.%d.%d.%d", (i>>16)&0xff, (i>>8)&0xff, 1+i&0x7f) }
	for round := range rounds {
		base := t0.Add(time.Duration(round) * time.Hour)
		for i := range n {
			at := base.Add(time.Duration(rng.IntN(3600)) * time.Second)
			switch i % 9 {
			case 0, 1: // agent host; 1 is docked (two NICs)
				o := Observation{Ref: "inventory:" + ref("i"), At: at, Observer: fmt.Sprint("agent-", i), Method: "self", AgentID: fmt.Sprint("agent-", i),
					Serial: fmt.Sprint("SN", i), HostID: fmt.Sprint("h", i), UUID: fmt.Sprintf("uuid-%d", i), MACs: []string{mac(i, 0)}, IP: ip(i)}
				if i%9 == 1 {
					o.MACs = append(o.MACs, mac(i, 1))
				}
				if i%27 == 0 {
					o.Serial = "To be filled by O.E.M."
				}
				obs = append(obs, o, Observation{Ref: ref("s"), At: at.Add(time.Second), Observer: "scanner", Method: "arp", MAC: mac(i, 0), IP: ip(i), Vendor: "Dell"})
			case 2: // cloned VM: the UUID of its neighbour, its own MAC
				obs = append(obs, Observation{Ref: "inventory:" + ref("i"), At: at, Observer: fmt.Sprint("agent-", i), Method: "self", AgentID: fmt.Sprint("agent-", i),
					UUID: fmt.Sprintf("uuid-%d", i-1), HostID: fmt.Sprintf("h%d", i-1), MACs: []string{mac(i, 0)}})
			case 3: // printer on a switch port, mDNS name
				obs = append(obs, Observation{Ref: ref("f"), At: at, Observer: "scanner", Method: "snmp-fdb", MAC: mac(i, 0), Via: "sw1", Port: fmt.Sprint("Gi1/0/", i%48)},
					Observation{Ref: ref("m"), At: at.Add(2 * time.Second), Observer: "scanner", Method: "mdns", MAC: mac(i, 0), IP: ip(i), Hostname: fmt.Sprint("prn-", i), Kinds: []string{"printer"}, Vendor: "HP"})
			case 4, 5: // phone: rotates its MAC every few rounds; ARP may see it before DHCP
				r := rmac(i, round/3)
				host := fmt.Sprint("phone-", i)
				if i%9 == 5 && i%2 == 0 {
					host = ""
				}
				arp := Observation{Ref: ref("s"), At: at, Observer: "scanner", Method: "arp", MAC: r, IP: ip(i + round)}
				dhcp := Observation{Ref: ref("d"), At: at.Add(time.Duration(rng.IntN(120)-60) * time.Minute), Observer: "gw", Method: "dhcp", MAC: r, IP: ip(i + round), Hostname: host}
				if rng.IntN(2) == 0 {
					dhcp.ClientID = "01:" + r
				}
				obs = append(obs, arp)
				if rng.IntN(3) > 0 {
					obs = append(obs, dhcp)
				}
			case 6: // behind a router: IP only, sometimes near a MAC-bearing sighting of that IP
				obs = append(obs, Observation{Ref: ref("p"), At: at, Observer: "remote", Method: "icmp", IP: ip(i)})
				if rng.IntN(2) == 0 {
					obs = append(obs, Observation{Ref: ref("s"), At: at.Add(time.Duration(rng.IntN(7200)-3600) * time.Second), Observer: "scanner", Method: "arp", MAC: mac(i, 0), IP: ip(i)})
				}
			case 7: // DHCP churn: a laptop with a client id, a new IP each round
				obs = append(obs, Observation{Ref: ref("d"), At: at, Observer: "gw", Method: "dhcp", MAC: mac(i, 0), IP: ip(i*3 + round), Hostname: fmt.Sprint("lt-", i), ClientID: "01:" + mac(i, 0)})
			case 8: // a switch describing itself over SNMP, serial a placeholder now and then
				s := fmt.Sprint("SW", i)
				if round%2 == 1 {
					s = "0123456789"
				}
				obs = append(obs, Observation{Ref: ref("n"), At: at, Observer: "scanner", Method: "snmp", IP: ip(i), MAC: mac(i, 0), Serial: s, Hostname: fmt.Sprint("sw-", i), Kinds: []string{"switch"}})
			}
		}
	}
	slices.SortStableFunc(obs, func(a, b Observation) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.Ref, b.Ref)
	})
	return obs
}

func devicesJSON(t *testing.T, ds []Device) string {
	t.Helper()
	b, err := json.MarshalIndent(ds, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// firstDiff shows where two renderings part.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			lo := max(0, i-8)
			return fmt.Sprintf("line %d:\n--- incremental\n%s\n--- resolve\n%s", i, strings.Join(al[lo:min(len(al), i+3)], "\n"), strings.Join(bl[lo:min(len(bl), i+3)], "\n"))
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(al), len(bl))
}

// applyInBatches feeds obs (in time order) to an Incremental in batches of
// size, collecting what Changes reports after each, and returns the final
// devices as Changes left them.
func applyInBatches(t *testing.T, obs []Observation, splits []Split, size int) []Device {
	t.Helper()
	s := NewIncremental(splits)
	cur := map[string]Device{}
	for i := 0; i < len(obs); i += size {
		end := min(len(obs), i+size)
		if !s.Apply(slices.Clone(obs[i:end])) {
			// What the engine does: rebuild from everything so far.
			s = NewIncremental(splits)
			if !s.Apply(slices.Clone(obs[:end])) {
				t.Fatal("a fresh graph refused a batch")
			}
			cur = map[string]Device{}
		}
		changed, gone := s.Changes()
		for _, id := range gone {
			delete(cur, id)
		}
		for _, d := range changed {
			cur[d.ID] = d
		}
	}
	out := make([]Device, 0, len(cur))
	for _, d := range cur {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Device) int { return strings.Compare(a.ID, b.ID) })
	if got, want := devicesJSON(t, out), devicesJSON(t, s.Devices()); got != want {
		t.Fatalf("the devices Changes reported differ from the graph's: %s", firstDiff(got, want))
	}
	return out
}

func TestIncrementalMatchesResolve(t *testing.T) {
	obs := fleet(7, 900, 12)
	want := devicesJSON(t, Resolve(slices.Clone(obs), nil, nil))
	for _, size := range []int{len(obs), 1000, 97, 1} {
		if size == 1 && testing.Short() {
			continue
		}
		t.Run(fmt.Sprintf("batches-of-%d", size), func(t *testing.T) {
			got := devicesJSON(t, applyInBatches(t, obs, nil, size))
			if got != want {
				t.Fatalf("incremental (batches of %d) differs from Resolve over all %d observations: %s", size, len(obs), firstDiff(got, want))
			}
		})
	}
}

// eachScenario runs f on every golden scenario, its observations in time
// order (then by where each is stored).
func eachScenario(t *testing.T, f func(t *testing.T, sc scenario)) {
	ins, err := filepath.Glob("testdata/*/input.json")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, in := range ins {
		t.Run(filepath.Base(filepath.Dir(in)), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var sc scenario
			if err := json.Unmarshal(data, &sc); err != nil {
				t.Fatal(err)
			}
			slices.SortStableFunc(sc.Observations, func(a, b Observation) int {
				if c := a.At.Compare(b.At); c != 0 {
					return c
				}
				return strings.Compare(a.Ref, b.Ref)
			})
			f(t, sc)
		})
	}
}

// Every golden scenario, fed one observation at a time in time order, gives
// Resolve's devices.
func TestIncrementalGoldenScenarios(t *testing.T) {
	eachScenario(t, func(t *testing.T, sc scenario) {
		obs := sc.Observations
		want := devicesJSON(t, Resolve(slices.Clone(obs), sc.Splits, nil))
		for _, size := range []int{len(obs), 1} {
			if got := devicesJSON(t, applyInBatches(t, obs, sc.Splits, max(size, 1))); got != want {
				t.Errorf("batches of %d: %s", size, firstDiff(got, want))
			}
		}
	})
}

// TestInternerSharesStrings: observations read from ClickHouse carry a new
// copy of every string; after the interner, equal strings are one.
func TestInternerSharesStrings(t *testing.T) {
	fresh := func(s string) string { return string([]byte(s)) }
	mk := func() Observation {
		return Observation{Observer: fresh("scanner"), Method: fresh("arp"), IP: fresh("10.0.0.1"), Hostname: fresh("h"),
			Vendor: fresh("HP"), Via: fresh("sw1"), Port: fresh("Gi1/0/1"), Kinds: []string{fresh("printer")}}
	}
	a, b := mk(), mk()
	in := interner{}
	in.observation(&a)
	in.observation(&b)
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	for _, p := range [][2]string{{a.Observer, b.Observer}, {a.Method, b.Method}, {a.IP, b.IP}, {a.Hostname, b.Hostname},
		{a.Vendor, b.Vendor}, {a.Via, b.Via}, {a.Port, b.Port}, {a.Kinds[0], b.Kinds[0]}} {
		if p[0] != p[1] || !same(p[0], p[1]) {
			t.Errorf("%q and %q are not one string", p[0], p[1])
		}
	}
}
