package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
	"github.com/umbrasec/umbra/shared/wire"
)

// TestStoreReportsInChunks writes a batch whose software list spans
// several blocks of one insert: every row lands, once, in one part.
func TestStoreReportsInChunks(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Second)
	var rs []store.Received
	const reports, perReport = 3, 15000
	for r := range reports {
		sw := make([]wire.Package, perReport)
		for i := range sw {
			sw[i] = wire.Package{Name: fmt.Sprintf("pkg-%d", i), Version: "1", Source: wire.SourceDpkg, Arch: "amd64"}
		}
		id := fmt.Sprintf("chunked-%d", r)
		rs = append(rs, store.Received{At: at, Size: 1, Report: &wire.Report{Schema: wire.Schema, ID: id, AgentID: "agent-" + id,
			Kind: wire.KindInventory, CreatedAt: at, Inventory: &wire.Inventory{CollectedAt: at, Full: true, Software: sw}}})
	}
	stats, err := db.StoreReports(ctx, rs)
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	for _, s := range stats {
		if s.Table == "host_software" {
			rows = s.Rows
		}
	}
	if rows != reports*perReport {
		t.Errorf("StoreReports says %d software rows, want %d", rows, reports*perReport)
	}
	for q, want := range map[string]uint64{
		"SELECT count() FROM host_software FINAL":        reports * perReport,
		"SELECT count() FROM host_software":              reports * perReport,
		"SELECT uniqExact(report_id) FROM host_software": reports,
		"SELECT count() FROM reports FINAL":              reports,
	} {
		n, err := db.Count(ctx, q)
		if err != nil || n != want {
			t.Errorf("%s = %d, %v; want %d", q, n, err, want)
		}
	}
}
