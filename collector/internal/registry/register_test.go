package registry

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/umbrasec/umbra/collector/internal/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestRegisterLifecycle(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	r := New(db, nil)
	me := Actor{ID: "admin-token:t1", Kind: "admin-token"}
	a, err := r.Create(ctx, me, Asset{Tag: "LAP-1", Category: "End-user device", Serial: "SN1", MACs: []string{"A4-BB-6D-11-22-33"}, ExpectAgent: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.Category != EndUserDevice || a.MACs[0] != "a4:bb:6d:11:22:33" || a.Lifecycle != Deployed {
		t.Errorf("created %+v", a)
	}
	if _, err := r.Create(ctx, me, Asset{Tag: "lap-1", Category: "peripheral"}); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate tag: %v, want ErrConflict", err)
	}
	owner := "anna"
	if _, err := r.Update(ctx, me, "LAP-1", Patch{Owner: &owner}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Retire(ctx, me, a.ID, Retirement{Dispose: true, Outcome: "recycled", WipeMethod: "NIST 800-88 purge", WipeCertificate: "CERT-9"}); err != nil {
		t.Fatal(err)
	}
	got, err := r.Get(ctx, "LAP-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != "anna" || got.Lifecycle != Disposed || got.Disposal == nil || got.Disposal.Outcome != Recycled || got.Disposal.WipeCertificate != "CERT-9" || got.Disposal.By != me.ID {
		t.Errorf("after dispose: %+v %+v", got, got.Disposal)
	}
	h, err := r.History(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, v := range h {
		actions = append(actions, v.Action+"/"+string(v.Lifecycle))
	}
	if strings.Join(actions, ",") != "create/deployed,update/deployed,dispose/disposed" {
		t.Errorf("history = %v", actions)
	}
	if _, err := r.Retire(ctx, me, a.ID, Retirement{}); !errors.Is(err, ErrConflict) {
		t.Errorf("retiring a disposed asset: %v", err)
	}
	n, err := db.Count(ctx, "SELECT count() FROM audit_log WHERE action LIKE 'asset.%'")
	if err != nil || n != 3 {
		t.Errorf("audit events = %d, %v; want 3", n, err)
	}
}

func TestImportAllOrNothing(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	r := New(db, nil)
	me := Actor{ID: "local"}
	f, err := os.Open("testdata/snipeit.csv")
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Import(ctx, me, f, FormatAuto, "")
	f.Close()
	if err != nil || res.Created != 3 {
		t.Fatalf("Import = %+v, %v", res, err)
	}
	// A file with one bad row writes nothing, not even its good rows.
	bad := "tag,category\nNEW-1,peripheral\nNEW-2,spaceship\n"
	if _, err := r.Import(ctx, me, strings.NewReader(bad), FormatAuto, ""); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("bad import = %v", err)
	}
	all, err := r.List(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("after bad import: %d assets, %v", len(all), err)
	}
	// Re-importing updates by tag.
	f, _ = os.Open("testdata/snipeit.csv")
	res, err = r.Import(ctx, me, f, FormatAuto, "")
	f.Close()
	if err != nil || res.Updated != 3 || res.Created != 0 {
		t.Fatalf("re-import = %+v, %v", res, err)
	}
	if all, _ = r.List(ctx); len(all) != 3 {
		t.Errorf("after re-import %d assets", len(all))
	}
}
