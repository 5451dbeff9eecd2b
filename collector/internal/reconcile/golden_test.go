package reconcile

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/registry"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/<case>/expected.txt")

// scenario is testdata/<case>/input.json.
type scenario struct {
	Now          time.Time        `json:"now"`
	Observations []Observation    `json:"observations"`
	Assets       []registry.Asset `json:"assets"`
	Splits       []Split          `json:"splits"`
	Software     []Software       `json:"software"`
	Rules        []Rule           `json:"rules"`
}

// render writes devices and findings as stable text lines.
func render(ds []Device, fs []Finding) string {
	var b strings.Builder
	for _, d := range ds {
		var ids []string
		for _, x := range d.Identifiers {
			ids = append(ids, x.ID)
		}
		sort.Strings(ids)
		fmt.Fprintf(&b, "device %s: %s\n", d.ID, strings.Join(ids, " "))
		for _, e := range d.Evidence {
			if strings.HasPrefix(e.Outcome, "refused") {
				fmt.Fprintf(&b, "  %s: %s\n", e.Outcome, strings.Join(e.Tied, " + "))
			}
		}
	}
	for _, f := range fs {
		fmt.Fprintf(&b, "finding %s %s %s %s\n  %s\n", f.Kind, f.Severity, f.Subject, f.Title, f.Why)
	}
	return b.String()
}

func TestGoldenScenarios(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/input.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, in := range dirs {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var sc scenario
			if err := json.Unmarshal(data, &sc); err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			ds := Resolve(sc.Observations, sc.Splits, nil)
			fs := Findings(ds, sc.Assets, sc.Software, sc.Rules, Policy{Now: sc.Now, MissingAfter: 14 * 24 * time.Hour, AgentSilentAfter: 7 * 24 * time.Hour})
			got := render(ds, fs)
			golden := filepath.Join(dir, "expected.txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs (run with -update after checking):\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
}
