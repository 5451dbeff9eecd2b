package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

const discoveryJSON = `{
  "schema": 1, "id": "r-1", "kind": "discovery", "agent_id": "a-1",
  "agent_version": "dev", "created_at": "2026-11-28T01:00:00Z",
  "discovery": {
    "started_at": "2026-11-28T00:59:58Z", "finished_at": "2026-11-28T01:00:00Z",
    "targets": ["198.18.1.0/24"], "profile": "polite",
    "observations": [
      {"observed_at": "2026-11-28T00:59:59Z", "observer": "a-1", "method": "arp",
       "ip": "198.18.1.10", "mac": "00:1b:21:aa:bb:cc", "vendor": "Intel Corporate", "rtt_us": 420},
      {"observed_at": "2026-11-28T00:59:59Z", "observer": "a-1", "method": "snmp",
       "ip": "198.18.1.1", "kinds": [{"kind": "router", "reason": "sysObjectID 1.3.6.1.4.1.9.1.1208 (Cisco)"}],
       "evidence": [{"key": "sysDescr", "value": "Cisco IOS Software"}]},
      {"observed_at": "2026-11-28T00:59:59Z", "method": "snmp-arp", "ip": "198.18.2.20",
       "mac": "02:00:00:00:00:01", "mac_local": true, "via": "198.18.1.1", "port": "eth1"}
    ]
  }
}`

func TestDecodeDiscovery(t *testing.T) {
	r, err := Decode(strings.NewReader(discoveryJSON), DefaultLimits, now)
	if err != nil {
		t.Fatalf("Decode = %v", err)
	}
	if r.Kind != KindDiscovery || r.Discovery == nil || len(r.Discovery.Observations) != 3 {
		t.Fatalf("Decode: kind %q, discovery %+v", r.Kind, r.Discovery)
	}
	if got := r.Discovery.Observations[1].Kinds[0].Kind; got != KindRouter {
		t.Errorf("kind = %q, want %q", got, KindRouter)
	}
	again, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(bytes.NewReader(again), DefaultLimits, now); err != nil {
		t.Fatalf("round trip: %v", err)
	}
}

func TestValidateDiscovery(t *testing.T) {
	base := func() *Report {
		r, err := Decode(strings.NewReader(discoveryJSON), DefaultLimits, now)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	cases := []struct {
		name   string
		change func(r *Report)
		substr string
	}{
		{"no payload", func(r *Report) { r.Discovery = nil }, "without a discovery"},
		{"no method", func(r *Report) { r.Discovery.Observations[0].Method = "" }, "method is missing"},
		{"bad method", func(r *Report) { r.Discovery.Observations[0].Method = "ARP!" }, "outside [a-z0-9-]"},
		{"bad ip", func(r *Report) { r.Discovery.Observations[0].IP = "300.1.1.1" }, "not an IP address"},
		{"bad mac", func(r *Report) { r.Discovery.Observations[0].MAC = "zz" }, "not a MAC"},
		{"no address", func(r *Report) { r.Discovery.Observations[0].IP, r.Discovery.Observations[0].MAC = "", "" }, "neither ip nor mac"},
		{"bad port", func(r *Report) { r.Discovery.Observations[0].OpenPorts = []int{0} }, "not a TCP port"},
		{"long vendor", func(r *Report) { r.Discovery.Observations[0].Vendor = strings.Repeat("x", 2000) }, "vendor is 2000 bytes"},
		{"too many evidence", func(r *Report) { r.Discovery.Observations[0].Evidence = make([]Evidence, 65) }, "evidence has 65 entries"},
		{"too many observations", func(r *Report) { r.Discovery.Observations = make([]Observation, MaxObservations+1) }, "observations has 50001"},
		{"future", func(r *Report) { r.Discovery.Observations[0].ObservedAt = now.Add(400 * 24 * time.Hour) }, "too far"},
		{"backwards", func(r *Report) { r.Discovery.FinishedAt = r.Discovery.StartedAt.Add(-time.Second) }, "before started_at"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := base()
			c.change(r)
			err := r.Validate(DefaultLimits, now)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a ValidationError", err)
			}
			if !strings.Contains(err.Error(), c.substr) {
				t.Errorf("Validate = %q, want it to contain %q", err, c.substr)
			}
		})
	}
}
