package inventory

import (
	"testing"
)

// BenchmarkCollect measures one whole inventory of this host, every topic
// included; its allocations show the garbage a collection leaves.
func BenchmarkCollect(b *testing.B) {
	b.ReportAllocs()
	var pkgs, svcs int
	for b.Loop() {
		inv, err := Collect(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		pkgs, svcs = len(inv.Software), len(inv.Services)
	}
	b.ReportMetric(float64(pkgs), "packages")
	b.ReportMetric(float64(svcs), "services")
}
