package snmp

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/oui"
	"github.com/umbrasec/umbra/shared/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// caseAddr is the address each golden case's device was read at: the one
// named in the first comment line, else 10.10.0.2.
func caseAddr(t *testing.T, data []byte) netip.Addr {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	for _, f := range strings.Fields(string(line)) {
		if a, err := netip.ParseAddr(f); err == nil {
			return a
		}
	}
	return netip.MustParseAddr("10.10.0.2")
}

// TestGolden maps each testdata/<case>/records.txt to the device it
// decodes to and the observations it makes, compared with device.json and
// observations.json.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/records.txt")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, path := range dirs {
		dir := filepath.Dir(path)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := ReadRecords(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			// The text form round-trips.
			var buf bytes.Buffer
			if err := WriteRecords(&buf, recs); err != nil {
				t.Fatal(err)
			}
			again, err := ReadRecords(&buf)
			if err != nil || len(again) != len(recs) {
				t.Fatalf("ReadRecords(WriteRecords(records)) = %d records, %v; want %d", len(again), err, len(recs))
			}
			d := Decode(caseAddr(t, data), recs)
			d.Credential = "v2c community [redacted]"
			obs := Observations(d, at, "agent-1", oui.Lookup)
			for i := range obs {
				if err := wire.CheckMethod(obs[i].Method); err != nil {
					t.Errorf("observation %d: method %v", i, err)
				}
				if obs[i].IP == "" && obs[i].MAC == "" {
					t.Errorf("observation %d has neither IP nor MAC", i)
				}
			}
			golden(t, filepath.Join(dir, "device.json"), d)
			golden(t, filepath.Join(dir, "observations.json"), obs)
		})
	}
}

func golden(t *testing.T, path string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept):\n%s", path, diffLines(string(want), string(got)))
	}
}

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)) && b.Len() < 4000; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("- " + wl + "\n+ " + gl + "\n")
		}
	}
	return b.String()
}
