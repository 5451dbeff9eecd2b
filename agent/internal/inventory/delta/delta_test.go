package delta

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

func pkg(name, version string) wire.Package {
	return wire.Package{Name: name, Version: version, Source: wire.SourceDpkg, Arch: "amd64"}
}

func TestSoftware(t *testing.T) {
	prev := []wire.Package{pkg("a", "1"), pkg("b", "1"), pkg("c", "1")}
	cur := []wire.Package{pkg("a", "1"), pkg("b", "2"), pkg("d", "1")}
	d := Software("r-1", prev, cur)
	if !reflect.DeepEqual(d.Added, []wire.Package{pkg("d", "1")}) || !reflect.DeepEqual(d.Changed, []wire.Package{pkg("b", "2")}) ||
		!reflect.DeepEqual(d.Removed, []wire.PackageKey{{Source: "dpkg", ID: "c", Arch: "amd64"}}) {
		t.Errorf("Software = %+v", d)
	}
	got, err := Apply(prev, d)
	if err != nil || wire.SoftwareDigest(got) != wire.SoftwareDigest(cur) {
		t.Errorf("Apply = %v, %v", got, err)
	}
	if _, err := Apply(cur, d); !errors.Is(err, ErrBaseMismatch) {
		t.Errorf("Apply to the wrong base = %v, want ErrBaseMismatch", err)
	}
	if !Empty(Software("r", cur, slices.Clone(cur))) {
		t.Error("no change is not empty")
	}
	// Same name in two sources or arches is two packages.
	multi := []wire.Package{pkg("libc6", "2.36"), {Name: "libc6", Version: "2.36", Source: wire.SourceDpkg, Arch: "i386"}}
	if d := Software("r", multi[:1], multi); len(d.Added) != 1 || len(d.Changed) != 0 {
		t.Errorf("multiarch delta = %+v", d)
	}
	// A detail change (install date) is a change.
	up := pkg("a", "1")
	up.InstallDate = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if d := Software("r", prev[:1], []wire.Package{up}); len(d.Changed) != 1 {
		t.Errorf("detail change = %+v", d)
	}
}

// TestApplyRoundTrip: for random lists, Apply(prev, Software(prev, cur))
// is cur.
func TestApplyRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		var prev, cur []wire.Package
		for j := range r.IntN(40) {
			prev = append(prev, pkg(fmt.Sprint("p", j), fmt.Sprint(r.IntN(3))))
		}
		for j := range r.IntN(40) {
			if r.IntN(4) > 0 { // keys stay unique, as package managers give them
				cur = append(cur, pkg(fmt.Sprint("p", j), fmt.Sprint(r.IntN(3))))
			}
		}
		d := Software("r", prev, cur)
		got, err := Apply(prev, d)
		if err != nil {
			t.Fatalf("case %d: Apply: %v", i, err)
		}
		if wire.SoftwareDigest(got) != d.Digest {
			t.Fatalf("case %d: round trip differs", i)
		}
	}
}

func TestSaveLoadPrepare(t *testing.T) {
	dir := t.TempDir()
	if s, err := Load(dir); s != nil || err != nil {
		t.Fatalf("Load(empty) = %v, %v", s, err)
	}
	var many []wire.Package
	for i := range 100 {
		many = append(many, pkg(fmt.Sprint("p", i), "1"))
	}
	if err := Save(dir, &Sent{ReportID: "r-1", Software: many}); err != nil {
		t.Fatal(err)
	}
	last, err := Load(dir)
	if err != nil || last.ReportID != "r-1" || len(last.Software) != 100 {
		t.Fatalf("Load = %+v, %v", last, err)
	}
	inv := &wire.Inventory{Full: true, Software: append(slices.Clone(many[1:]), pkg("new", "1"))}
	if !Prepare(inv, last) || inv.Full || inv.Software != nil || len(inv.SoftwareDelta.Added) != 1 || len(inv.SoftwareDelta.Removed) != 1 {
		t.Errorf("Prepare = %+v", inv)
	}
	full := &wire.Inventory{Full: true, Software: []wire.Package{pkg("x", "1")}}
	if Prepare(full, last) || !full.Full {
		t.Error("Prepare made a delta larger than the full list")
	}
}
