package scan

import (
	"crypto/sha256"
	"encoding/json"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/identify"
	"github.com/umbrasec/umbra/agent/internal/discovery/mdns"
	"github.com/umbrasec/umbra/agent/internal/discovery/oui"
	"github.com/umbrasec/umbra/agent/internal/discovery/snmp"
	"github.com/umbrasec/umbra/agent/internal/discovery/sweep"
	"github.com/umbrasec/umbra/shared/ident"
	"github.com/umbrasec/umbra/shared/wire"
)

// streamer hands observations to Options.Stream as the scan's parts
// finish with them, and remembers what it handed so that the result
// carries only the rest.
//
// An observation is final when its part is done with it: a host's sweep
// observations when the sweep ends (their open ports are known), a
// device's SNMP observations when its probe ends, the mDNS ones when the
// browse ends, a host's names when its lookups end. The verdict on a
// host's kind needs all the evidence; it is sent with the host's first
// own observation of each batch whenever the evidence so far points to a
// verdict other than the one last sent, and at the end, with an
// observation not yet sent, when the final verdict differs again.
//
// A nil streamer does nothing.
type streamer struct {
	mu sync.Mutex
	fn func([]wire.Observation)

	// the evidence so far, per address
	hosts map[netip.Addr]sweep.Host
	devs  map[netip.Addr]*snmp.Device
	svcs  map[netip.Addr][]mdns.Service

	kinds map[netip.Addr][]wire.KindHint // the verdict last sent per host
	sent  map[[32]byte]int               // observations sent, by obsKey
	n     int                            // observations sent
}

func newStreamer(fn func([]wire.Observation)) *streamer {
	if fn == nil {
		return nil
	}
	return &streamer{fn: fn, hosts: map[netip.Addr]sweep.Host{}, devs: map[netip.Addr]*snmp.Device{},
		svcs: map[netip.Addr][]mdns.Service{}, kinds: map[netip.Addr][]wire.KindHint{}, sent: map[[32]byte]int{}}
}

// phaseDone streams the observations by method m of the hosts found so
// far: the sweep says they are final.
func (s *streamer) phaseDone(m wire.Method, hosts []sweep.Host) {
	if s == nil {
		return
	}
	s.sweepHosts(hosts, func(o wire.Observation) bool { return o.Method == m })
}

// sweepDone streams the sweep's hosts: what the phases did not.
func (s *streamer) sweepDone(hosts []sweep.Host) {
	if s == nil {
		return
	}
	s.sweepHosts(hosts, func(wire.Observation) bool { return true })
}

// sweepHosts streams the hosts' observations that keep says and that were
// not streamed yet.
func (s *streamer) sweepHosts(hosts []sweep.Host, keep func(wire.Observation) bool) {
	var obs []wire.Observation
	for _, h := range hosts {
		for _, o := range h.Observations("", oui.Lookup) {
			if keep(o) {
				obs = append(obs, o)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range hosts {
		s.hosts[h.Addr] = h
	}
	obs = slices.DeleteFunc(obs, func(o wire.Observation) bool { return s.sent[obsKey(o)] > 0 })
	s.send(obs)
}

// device streams one SNMP device's observations.
func (s *streamer) device(r snmp.Result) {
	if s == nil || r.Device == nil {
		return
	}
	obs := snmp.Observations(r.Device, time.Now(), "", oui.Lookup)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.devs[r.Device.Addr] = r.Device
	s.send(obs)
}

// mdnsDone streams the mDNS services (of target addresses only).
func (s *streamer) mdnsDone(svcs []mdns.Service) {
	if s == nil || len(svcs) == 0 {
		return
	}
	obs := mdns.Observations(svcs, time.Now(), "")
	s.mu.Lock()
	defer s.mu.Unlock()
	for a, ss := range mdns.ByAddr(svcs) {
		s.svcs[a] = ss
	}
	s.send(obs)
}

// names streams one host's names.
func (s *streamer) names(a netip.Addr, n hostNames) {
	if s == nil {
		return
	}
	obs := nameObservations(a, n, time.Now())
	if len(obs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.send(obs)
}

// send hands obs to the stream with the verdicts that changed; s.mu is
// held.
func (s *streamer) send(obs []wire.Observation) {
	if len(obs) == 0 {
		return
	}
	done := map[netip.Addr]bool{}
	for i := range obs {
		o := &obs[i]
		if o.Via != "" {
			continue
		}
		a, err := netip.ParseAddr(o.IP)
		if err != nil || done[a] {
			continue
		}
		done[a] = true
		if h := s.verdict(a); h != nil && !slices.Equal(h, s.kinds[a]) {
			o.Kinds = h
			s.kinds[a] = h
		}
	}
	for _, o := range obs {
		s.sent[obsKey(o)]++
	}
	s.n += len(obs)
	s.fn(obs)
}

// verdict is the kind the evidence so far gives a, as kind hints; nil
// when unknown. It weighs what finishRows weighs. s.mu is held.
func (s *streamer) verdict(a netip.Addr) []wire.KindHint {
	var e identify.Evidence
	mac := ""
	if h, ok := s.hosts[a]; ok {
		e.OpenPorts = h.OpenPorts
		if m, err := ident.ParseMAC(h.MAC.String()); err == nil {
			mac = m.String()
		}
	}
	if dv := s.devs[a]; dv != nil {
		de := dv.Evidence()
		e.SysObjectID, e.SysDescr, e.SysServices, e.HostResources = de.SysObjectID, de.SysDescr, de.SysServices, de.HostResources
		if mac == "" {
			mac = dv.PrimaryMAC()
		}
	}
	if ss := s.svcs[a]; len(ss) > 0 {
		e.MDNSServices = mdns.Types(ss)
	}
	if m, err := ident.ParseMAC(mac); err == nil {
		e.MACVendor, e.MACLocal = oui.Lookup(m)
	}
	return hints(identify.Classify(e))
}

func hints(v identify.Verdict) []wire.KindHint {
	if v.Kind == wire.KindUnknown {
		return nil
	}
	h := v.Hints
	if len(h) > wire.MaxObservationItems {
		h = h[:wire.MaxObservationItems]
	}
	return h
}

// rest returns the observations of rows that were not streamed, a row's
// together. When a host's final verdict differs from the one streamed
// last, the first of its own observations among the rest carries it.
func (s *streamer) rest(rows []*Row) []wire.Observation {
	s.mu.Lock()
	defer s.mu.Unlock()
	sent := maps.Clone(s.sent)
	out := []wire.Observation{}
	for _, r := range rows {
		final := r.verdict()
		carried := false
		for _, o := range r.Obs {
			k := obsKey(o)
			if sent[k] > 0 {
				sent[k]--
				continue
			}
			own := o.IP == r.Addr.String() && o.Via == ""
			if own && !carried && final != nil && !slices.Equal(final, s.kinds[r.Addr]) {
				o.Kinds = final
				carried = true
			}
			out = append(out, o)
		}
	}
	return out
}

// verdict is the kind hints finishRows gave the row's own first
// observation; nil when none.
func (r *Row) verdict() []wire.KindHint {
	for _, o := range r.Obs {
		if o.IP == r.Addr.String() && o.Via == "" {
			if r.Kind == wire.KindUnknown {
				return nil
			}
			return o.Kinds
		}
	}
	return nil
}

// obsKey names an observation by a digest of everything but its time and
// kind hints: a streamed observation and the same one made again at the
// end of the scan share it.
func obsKey(o wire.Observation) [32]byte {
	o.ObservedAt, o.Kinds = time.Time{}, nil
	b, _ := json.Marshal(o)
	return sha256.Sum256(b)
}
