package store

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/umbrasec/umbra/shared/wire"
)

// capturedColumns records what a column writer appends, chunk after
// chunk.
type capturedColumns map[int]reflect.Value

type capturedColumn struct {
	cols capturedColumns
	i    int
}

func (c capturedColumns) Column(i int) driver.BatchColumn { return capturedColumn{c, i} }
func (c capturedColumns) Flush() error                    { return nil }

// Append copies, as the driver does: the writer reuses its slices.
func (c capturedColumn) Append(v any) error {
	prev, ok := c.cols[c.i]
	if !ok {
		prev = reflect.MakeSlice(reflect.TypeOf(v), 0, 0)
	}
	c.cols[c.i] = reflect.AppendSlice(prev, reflect.ValueOf(v))
	return nil
}
func (c capturedColumn) AppendRow(v any) error { panic("not used") }

// TestSoftwareColumnsMatchRows checks that the column writer of
// host_software writes exactly the rows of the row writer: full lists,
// deltas with every op, and reports without software.
func TestSoftwareColumnsMatchRows(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	pkg := func(name string) wire.Package {
		return wire.Package{Name: name, Version: "1.0", Publisher: "p", Arch: "amd64", Source: wire.SourceDpkg,
			SizeBytes: 42, InstallDate: at.Add(-time.Hour), Location: "/usr"}
	}
	inv := func(id string, sw []wire.Package, d *wire.SoftwareDelta) Received {
		return Received{At: at, Report: &wire.Report{ID: id, AgentID: "a-" + id, Kind: wire.KindInventory,
			Inventory: &wire.Inventory{CollectedAt: at, Software: sw, SoftwareDelta: d}}}
	}
	rs := []Received{
		inv("r1", []wire.Package{pkg("curl"), pkg("vim"), {Name: "odd", ID: "x.y", Scope: "user", Source: wire.SourceWindowsProgram}}, nil),
		{At: at, Report: &wire.Report{ID: "d1", AgentID: "a", Kind: wire.KindDiscovery, Discovery: &wire.Discovery{}}},
		inv("r2", nil, nil),
		inv("r3", nil, &wire.SoftwareDelta{BaseReportID: "r1", Added: []wire.Package{pkg("git")}, Changed: []wire.Package{pkg("curl")},
			Removed: []wire.PackageKey{{Source: wire.SourceDpkg, ID: "vim", Arch: "amd64"}}}),
	}
	// A report bigger than a chunk.
	big := make([]wire.Package, columnChunk+10)
	for i := range big {
		big[i] = pkg(fmt.Sprintf("lib%d", i))
	}
	rs = append(rs, inv("r4", big, nil))
	var rows [][]any
	for _, rc := range rs {
		rows = hostSoftwareTable.Rows(rows, rc)
	}
	cols := capturedColumns{}
	n, err := softwareColumns(cols, rs)
	if err != nil {
		t.Fatal(err)
	}
	if want := 6 + len(big); n != len(rows) || n != want {
		t.Fatalf("softwareColumns wrote %d rows, the row writer %d; want %d", n, len(rows), want)
	}
	if len(cols) != len(rows[0]) {
		t.Fatalf("softwareColumns wrote %d columns, want %d", len(cols), len(rows[0]))
	}
	for c := range rows[0] {
		col := cols[c]
		for r, row := range rows {
			if got := col.Index(r).Interface(); !reflect.DeepEqual(got, row[c]) {
				t.Errorf("row %d column %d = %#v, want %#v", r, c, got, row[c])
			}
		}
	}
	// Nothing to write: no insert at all.
	if n, err := softwareColumns(capturedColumns{}, rs[1:3]); n != 0 || err != nil {
		t.Errorf("softwareColumns without software = %d, %v; want 0, nil", n, err)
	}
}
