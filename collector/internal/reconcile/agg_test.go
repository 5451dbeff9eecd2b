package reconcile

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// aggregate groups observations as the build's query groups the feed (by
// everything but time and place: count, first and last time, last place);
// agents' inventories stay one by one, as the build reads them.
func aggregate(obs []Observation) (groups, single []Observation) {
	at := map[string]int{}
	for _, o := range obs {
		if o.Method == "self" {
			single = append(single, o)
			continue
		}
		k := fmt.Sprintf("%q", []any{o.Observer, o.Method, o.IP, o.MAC, o.Hostname, o.Vendor, o.Serial, o.Via, o.Port, o.Kinds, o.ClientID})
		i, ok := at[k]
		if !ok {
			at[k] = len(groups)
			o.Count, o.Since = 1, o.At
			groups = append(groups, o)
			continue
		}
		g := &groups[i]
		g.Count++
		g.Since = earlier(g.Since, o.At)
		if o.At.After(g.At) || o.At.Equal(g.At) && o.Ref > g.Ref {
			g.At, g.Ref = o.At, o.Ref
		}
	}
	return groups, single
}

// buildFromAggregates is what Engine.rebuild does with the aggregates: a
// lazy graph fed them (with the inventories) in chunks of size in order
// of first sighting, then every mixed IP expanded from the observations.
func buildFromAggregates(t *testing.T, obs []Observation, splits []Split, size int) *Incremental {
	t.Helper()
	groups, single := aggregate(obs)
	all := append(groups, single...)
	slices.SortStableFunc(all, func(a, b Observation) int { return a.since().Compare(b.since()) })
	s := NewIncremental(splits)
	s.lazy = true
	for _, o := range obs {
		if o.AgentID != "" {
			sp, ok := s.g.span[IDAgent+":"+o.AgentID]
			if !ok {
				sp = [2]time.Time{o.At, o.At}
			}
			sp[0], sp[1] = earlier(sp[0], o.At), later(sp[1], o.At)
			s.g.span[IDAgent+":"+o.AgentID] = sp
		}
	}
	for i := 0; i < len(all); i += size {
		if !s.Apply(slices.Clone(all[i:min(len(all), i+size)])) {
			t.Fatal("a graph with every agent's lifetime refused a chunk")
		}
	}
	mixed := s.Mixed()
	for _, ip := range mixed {
		var at []Observation
		for _, o := range obs {
			if o.IP == ip && o.Method != "self" {
				at = append(at, o)
			}
		}
		s.Expand(ip, at)
	}
	if len(s.Mixed()) != 0 {
		t.Fatalf("still mixed after expanding: %v", s.Mixed())
	}
	if s.Observations() != len(obs) {
		t.Fatalf("%d observations counted, want %d", s.Observations(), len(obs))
	}
	t.Logf("%d observations, %d aggregates and inventories, %d IPs expanded", len(obs), len(all), len(mixed))
	return s
}

// A graph built from aggregates gives Resolve's devices, and applies later
// observations one by one as a graph built from every observation does.
func TestBuildFromAggregatesMatchesResolve(t *testing.T) {
	obs := fleet(11, 900, 12)
	cut := len(obs) * 3 / 4
	for _, size := range []int{1 << 30, 500} {
		t.Run(fmt.Sprintf("chunks-of-%d", min(size, len(obs))), func(t *testing.T) {
			s := buildFromAggregates(t, obs[:cut], nil, size)
			s.Changes()
			if got, want := devicesJSON(t, s.Devices()), devicesJSON(t, Resolve(slices.Clone(obs[:cut]), nil, nil)); got != want {
				t.Fatalf("built from aggregates: %s", firstDiff(got, want))
			}
			// Later observations, in batches, with the mixed IPs they make
			// expanded as a run does.
			for i := cut; i < len(obs); i += 101 {
				end := min(len(obs), i+101)
				if !s.Apply(slices.Clone(obs[i:end])) {
					t.Fatal("a batch was refused")
				}
				for _, ip := range s.Mixed() {
					var at []Observation
					for _, o := range obs[:end] {
						if o.IP == ip && o.Method != "self" {
							at = append(at, o)
						}
					}
					s.Expand(ip, at)
				}
				s.Changes()
			}
			if got, want := devicesJSON(t, s.Devices()), devicesJSON(t, Resolve(slices.Clone(obs), nil, nil)); got != want {
				t.Fatalf("after later batches: %s", firstDiff(got, want))
			}
		})
	}
}

// Every golden scenario built from aggregates gives Resolve's devices.
func TestBuildFromAggregatesGoldenScenarios(t *testing.T) {
	eachScenario(t, func(t *testing.T, sc scenario) {
		s := buildFromAggregates(t, sc.Observations, sc.Splits, 1<<30)
		s.Changes()
		if got, want := devicesJSON(t, s.Devices()), devicesJSON(t, Resolve(slices.Clone(sc.Observations), sc.Splits, nil)); got != want {
			t.Errorf("%s", firstDiff(got, want))
		}
	})
}

// TestEmptiedDropsBigMaps: a reused accumulator's map is cleared while it
// is small, and replaced once it grew (a cleared map keeps its capacity,
// and ranging over it costs that capacity).
func TestEmptiedDropsBigMaps(t *testing.T) {
	small := map[string]int{"a": 1}
	if got := emptied(small); len(got) != 0 || reflect.ValueOf(got).UnsafePointer() != reflect.ValueOf(small).UnsafePointer() {
		t.Error("a small map was not cleared in place")
	}
	big := map[string]int{}
	for i := range 1000 {
		big[fmt.Sprint(i)] = i
	}
	if got := emptied(big); len(got) != 0 || reflect.ValueOf(got).UnsafePointer() == reflect.ValueOf(big).UnsafePointer() {
		t.Error("a big map was kept")
	}
}

// TestSameKeys: sameKeys says whether a device's match keys are those kept,
// as comparing with matchKeys would, on devices that differ in one key,
// its kind, its place or the number of keys.
func TestSameKeys(t *testing.T) {
	base := Device{Serials: []string{"sn1"}, MACs: []string{"00:11:22:33:44:55", "66:77:88:99:aa:bb"}, Hostnames: []string{"pc-1"}}
	variants := []Device{
		base,
		{},
		{Serials: []string{"sn1"}, MACs: []string{"00:11:22:33:44:55"}, Hostnames: []string{"pc-1"}},
		{Serials: []string{"sn1"}, MACs: []string{"66:77:88:99:aa:bb", "00:11:22:33:44:55"}, Hostnames: []string{"pc-1"}},
		{Serials: []string{"sn2"}, MACs: base.MACs, Hostnames: base.Hostnames},
		{MACs: []string{"sn1", "00:11:22:33:44:55", "66:77:88:99:aa:bb"}, Hostnames: base.Hostnames},
		{Serials: base.Serials, MACs: base.MACs, Hostnames: []string{"pc-1", "pc-1b"}},
		{Serials: base.Serials, MACs: base.MACs},
		{Serials: base.Serials, MACs: base.MACs, Hostnames: []string{"pc-"}},
		{Hostnames: []string{""}},
	}
	for i := range variants {
		for j := range variants {
			ks := matchKeys(&variants[i])
			want := slices.Equal(ks, matchKeys(&variants[j]))
			if got := sameKeys(ks, &variants[j]); got != want {
				t.Errorf("sameKeys(keys of %d, device %d) = %v; want %v", i, j, got, want)
			}
		}
	}
}

// TestKeyIndex: the key index gives, after any adds and removes, the
// devices of each key sorted, as a map of sorted lists would.
func TestKeyIndex(t *testing.T) {
	x, want := newKeyIndex(), map[string][]string{}
	r := rand.New(rand.NewPCG(7, 7))
	for step := range 20000 {
		k, id := fmt.Sprintf("m:%d", r.IntN(20)), fmt.Sprintf("d-%d", r.IntN(6))
		if r.IntN(3) == 0 {
			x.remove(k, id)
			want[k] = slices.DeleteFunc(want[k], func(y string) bool { return y == id })
		} else {
			x.add(k, id)
			if !slices.Contains(want[k], id) {
				want[k] = append(want[k], id)
				slices.Sort(want[k])
			}
		}
		for _, k := range []string{k, "m:absent"} {
			var got []string
			x.each(k, func(id string) { got = append(got, id) })
			if !slices.Equal(got, want[k]) {
				t.Fatalf("step %d: devices of %s = %v; want %v", step, k, got, want[k])
			}
		}
	}
	for k, ids := range x.many {
		if len(ids) < 2 {
			t.Errorf("%s kept as a list of %d", k, len(ids))
		}
	}
}

// TestMatchKeysShareOneString: a device's keys are its serials, MACs and
// hostnames with their prefixes, in that order.
func TestMatchKeysShareOneString(t *testing.T) {
	d := Device{Serials: []string{"sn1"}, MACs: []string{"00:11:22:33:44:55"}, Hostnames: []string{"pc-1", "h\x00x"}}
	if got, want := matchKeys(&d), []string{"s:sn1", "m:00:11:22:33:44:55", "h:pc-1", "h:h\x00x"}; !slices.Equal(got, want) {
		t.Errorf("matchKeys = %q; want %q", got, want)
	}
	if got := matchKeys(&Device{}); got != nil {
		t.Errorf("matchKeys of a device without keys = %q", got)
	}
}
