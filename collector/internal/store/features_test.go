package store

import (
	"strings"
	"testing"
)

func TestFeaturesFor(t *testing.T) {
	tests := []struct {
		version string
		want    Features
	}{
		{"18.16.1", Features{}},
		{"19.0.0", Features{LowCardinality: true}},
		{"19.5.3.8", Features{LowCardinality: true}},
		{"19.6.2.11", Features{LowCardinality: true, TTL: true}},
		{"23.8.1", Features{LowCardinality: true, TTL: true}},
		{"24.3.1.2672", Features{LowCardinality: true, TTL: true}},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			got, err := FeaturesFor(tt.version)
			if err != nil || got != tt.want {
				t.Errorf("FeaturesFor(%q) = %+v, %v, want %+v", tt.version, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "18", "x.1", "18.y.1", "-1.2"} {
		if got, err := FeaturesFor(bad); err == nil {
			t.Errorf("FeaturesFor(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestMigrationRendering(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("Migrations() = %+v, want 0001 first", ms)
	}
	tests := []struct {
		version     string
		lowCard     bool
		ttl         bool
		statements  int
		noTemplates bool
	}{
		{"18.16.1", false, false, 3, true},
		{"19.6.2.11", true, true, 3, true},
		{"23.8.1", true, true, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			f, err := FeaturesFor(tt.version)
			if err != nil {
				t.Fatal(err)
			}
			stmts, err := ms[0].Statements(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(stmts) != tt.statements {
				t.Fatalf("%d statements, want %d:\n%s", len(stmts), tt.statements, strings.Join(stmts, "\n---\n"))
			}
			all := strings.Join(stmts, "\n")
			if got := strings.Contains(all, "LowCardinality("); got != tt.lowCard {
				t.Errorf("LowCardinality present = %v, want %v", got, tt.lowCard)
			}
			if got := strings.Contains(stmts[0], "TTL received_at"); got != tt.ttl {
				t.Errorf("TTL on reports = %v, want %v", got, tt.ttl)
			}
			if strings.Contains(stmts[1], "TTL") || strings.Contains(stmts[2], "TTL") {
				t.Errorf("TTL outside the raw report log:\n%s", all)
			}
			if strings.Contains(all, "{{") || strings.Contains(all, "--") || strings.Contains(all, ";") {
				t.Errorf("rendered statements keep template, comment or separator text:\n%s", all)
			}
			for i, s := range stmts {
				if !strings.HasPrefix(s, "CREATE TABLE IF NOT EXISTS ") {
					t.Errorf("statement %d is not idempotent: %.60s", i+1, s)
				}
			}
		})
	}
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements("-- c;\nCREATE A (\n  x String\n);\n\n-- two\nCREATE B\n;\nCREATE C")
	want := []string{"CREATE A (\n  x String\n)", "CREATE B", "CREATE C"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("splitStatements = %q, want %q", got, want)
	}
}
