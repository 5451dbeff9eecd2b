package cli

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// TestWriteDiscoveryJSON: the observation-at-a-time writer prints what
// json.Encoder with a two-space indent prints.
func TestWriteDiscoveryJSON(t *testing.T) {
	at := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
	obs := []wire.Observation{
		{ObservedAt: at, Observer: "a", Method: wire.MethodARP, IP: "10.0.0.1", MAC: "00:1b:21:00:00:01", Vendor: "Intel <Corporate> & \"co\""},
		{ObservedAt: at, Observer: "a", Method: wire.MethodTCP, IP: "10.0.0.2", OpenPorts: []int{22, 443}},
	}
	for _, d := range []wire.Discovery{
		{StartedAt: at, FinishedAt: at},
		{StartedAt: at, FinishedAt: at, Observations: []wire.Observation{}},
		{StartedAt: at, FinishedAt: at, Targets: []string{"10.0.0.0/24"}, Profile: "fast", Observations: obs[:1]},
		{StartedAt: at, FinishedAt: at, Targets: []string{"10.0.0.0/24", `"observations": null`}, Excluded: []string{"10.0.0.9"},
			Observations: obs, Errors: []wire.SourceError{{Source: "icmp", Error: "no privilege"}}},
	} {
		var want, got bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			t.Fatal(err)
		}
		if err := writeDiscoveryJSON(&got, &d); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("writeDiscoveryJSON =\n%s\nwant\n%s", got.String(), want.String())
		}
	}
}
