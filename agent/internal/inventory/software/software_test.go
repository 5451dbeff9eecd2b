package software

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// mtimeSources take the install date from a file's mtime, which a checkout
// does not keep: golden files leave it out.
var mtimeSources = map[string]bool{wire.SourceDpkg: true, wire.SourceSnap: true, wire.SourceFlatpak: true, wire.SourceMacApp: true}

// TestCollectFSGolden reads fixture trees recorded from each kind of host
// and compares the packages and errors to testdata/<case>.golden.json.
func TestCollectFSGolden(t *testing.T) {
	all := append(append([]string{}, LinuxSources...), MacSources...)
	for _, c := range []string{"debian", "fedora", "centos7", "opensuse", "alpine", "arch", "ubuntu", "macos"} {
		t.Run(c, func(t *testing.T) {
			pkgs, errs := CollectFS(t.Context(), os.DirFS(filepath.Join("testdata", c)), all)
			for i := range pkgs {
				if mtimeSources[pkgs[i].Source] {
					pkgs[i].InstallDate = time.Time{}
				}
			}
			var msgs []string
			for _, e := range errs {
				var se *source.Error
				if !errors.As(e, &se) {
					t.Errorf("error %v is not a *source.Error", e)
				}
				msgs = append(msgs, se.Source+": "+e.Error())
			}
			got, err := json.MarshalIndent(struct {
				Packages []wire.Package `json:"packages"`
				Errors   []string       `json:"errors"`
			}{pkgs, msgs}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", c+".golden.json")
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
				t.Errorf("CollectFS(%s) =\n%s\nwant\n%s", c, got, want)
			}
		})
	}
}

func TestDpkgCorruptStanzaCostsOnlyItself(t *testing.T) {
	data, err := os.ReadFile("testdata/debian/var/lib/dpkg/status")
	if err != nil {
		t.Fatal(err)
	}
	pkgs, errs := ParseDpkgStatus(data)
	if len(pkgs) != 6 {
		t.Errorf("ParseDpkgStatus kept %d packages, want 6 (5 + zlib1g; broken and removed left out)", len(pkgs))
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "not a field") {
		t.Errorf("ParseDpkgStatus errors = %v, want one about the broken stanza", errs)
	}
	last := pkgs[len(pkgs)-1]
	want := wire.Package{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Arch: "amd64", Publisher: "Mark Brown <broonie@debian.org>",
		Source: wire.SourceDpkg, SizeBytes: 168 * 1024}
	if last != want {
		t.Errorf("ParseDpkgStatus last = %+v, want %+v", last, want)
	}
	// Binary garbage: no panic, errors bounded.
	_, errs = ParseDpkgStatus(bytes.Repeat([]byte("\x00\xff junk\n\n"), 1000))
	if len(errs) != maxParseErrors+1 {
		t.Errorf("garbage gave %d errors, want %d", len(errs), maxParseErrors+1)
	}
}

func TestParseRPMHeader(t *testing.T) {
	b, err := os.ReadFile("testdata/rpm-hello.hdr")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseRPMHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "hello" || p.Version != "2.12.1-3.fc40" || p.Arch != "x86_64" || p.Publisher != "Fedora Project" || p.InstallDate.IsZero() {
		t.Errorf("ParseRPMHeader = %+v", p)
	}
	for _, n := range []int{0, 7, 8, 100, len(b) - 1} {
		if _, err := ParseRPMHeader(b[:n]); err == nil {
			t.Errorf("ParseRPMHeader(first %d bytes) accepted a truncated header", n)
		}
	}
}

// TestSQLiteOverflowAndInterior reads a database with 300 rows on 1 KiB
// pages: interior pages and overflow chains.
func TestSQLiteOverflowAndInterior(t *testing.T) {
	db, err := os.ReadFile("testdata/many.sqlite")
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := SQLiteTableBlobs(db, "Packages", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 300 {
		t.Fatalf("SQLiteTableBlobs = %d rows, want 300", len(blobs))
	}
	for i, b := range blobs {
		id := i + 1
		n := 50 + (id*7919)%400
		if id%25 == 0 {
			n = 5000
		}
		if len(b) != n {
			t.Fatalf("row %d: %d bytes, want %d", id, len(b), n)
		}
		for j, c := range b {
			if int(c) != (id+j)%251 {
				t.Fatalf("row %d byte %d = %d, want %d", id, j, c, (id+j)%251)
			}
		}
	}
	if _, err := SQLiteTableBlobs(db, "Missing", 1); err == nil {
		t.Error("SQLiteTableBlobs found a missing table")
	}
}

func TestParseUninstallAndHotfixes(t *testing.T) {
	var keys []UninstallKey
	readJSON(t, "testdata/windows/uninstall.json", &keys)
	pkgs := ParseUninstall(keys)
	var names []string
	for _, p := range pkgs {
		names = append(names, p.Name+"|"+p.Arch+"|"+p.Scope)
	}
	want := "7-Zip 24.09 (x64 edition)||,Mozilla Firefox (x64 en-US)||,Adobe Acrobat Reader|x86|,Bibliothèque numérique — 数字图书馆 😀||," +
		"Minimal App||,Zoom Workplace||user:S-1-5-21-3623811015-3361044348-30300820-1013"
	if got := strings.Join(names, ","); got != want {
		t.Errorf("ParseUninstall names = %s, want %s", got, want)
	}
	if p := pkgs[3]; p.Publisher != "Société Générale d'Édition" || !p.InstallDate.IsZero() || p.Version != "3.1" {
		t.Errorf("ParseUninstall non-ASCII entry = %+v (a local-format InstallDate is not read)", p)
	}
	if p := pkgs[4]; p != (wire.Package{Name: "Minimal App", Source: wire.SourceWindowsProgram, ID: "MinimalApp"}) {
		t.Errorf("ParseUninstall minimal entry = %+v", p)
	}
	if p := pkgs[0]; p.SizeBytes != 5832*1024 || !p.InstallDate.Equal(time.Date(2024, 11, 5, 0, 0, 0, 0, time.UTC)) || p.Publisher != "Igor Pavlov" {
		t.Errorf("ParseUninstall 7-Zip = %+v", p)
	}
	var rows []Hotfix
	readJSON(t, "testdata/windows/hotfixes.json", &rows)
	hf := ParseHotfixes(rows)
	if len(hf) != 3 || hf[0].Name != "KB5046617" || !hf[0].InstallDate.Equal(time.Date(2024, 11, 13, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ParseHotfixes = %+v", hf)
	}
	if hf[2].InstallDate.IsZero() {
		t.Errorf("ParseHotfixes FILETIME date not read: %+v", hf[2])
	}
}

func TestPublisherFromCopyright(t *testing.T) {
	for in, want := range map[string]string{
		"Copyright 2024 Google LLC. All rights reserved.":       "Google LLC",
		"Copyright © 2024 Slack Technologies, LLC":              "Slack Technologies, LLC",
		"Copyright © 1995–2024 Apple Inc. All rights reserved.": "Apple Inc",
		"": "",
	} {
		if got := publisherFromCopyright(in); got != want {
			t.Errorf("publisherFromCopyright(%q) = %q, want %q", in, got, want)
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func seed(f *testing.F, paths ...string) {
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

func FuzzParseDpkgStatus(f *testing.F) {
	seed(f, "testdata/debian/var/lib/dpkg/status")
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, _ := ParseDpkgStatus(b)
		for _, p := range pkgs {
			if p.Name == "" {
				t.Fatal("package without a name")
			}
		}
	})
}

func FuzzParseRPMHeader(f *testing.F) {
	seed(f, "testdata/rpm-hello.hdr")
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParseRPMHeader(b) })
}

func FuzzSQLiteTableBlobs(f *testing.F) {
	seed(f, "testdata/fedora/var/lib/rpm/rpmdb.sqlite")
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = SQLiteTableBlobs(b, "Packages", 1) })
}

func FuzzParseAPKInstalled(f *testing.F) {
	seed(f, "testdata/alpine/lib/apk/db/installed")
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParseAPKInstalled(b) })
}

func FuzzParsePacmanDesc(f *testing.F) {
	seed(f, "testdata/arch/var/lib/pacman/local/linux-6.10.10.arch1-1/desc")
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParsePacmanDesc(b) })
}

func FuzzParseAppInfoPlist(f *testing.F) {
	seed(f, "testdata/macos/Applications/Slack.app/Contents/Info.plist",
		"testdata/macos/Applications/Google Chrome.app/Contents/Info.plist",
		"testdata/macos/var/db/receipts/com.microsoft.teams2.plist")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseAppInfoPlist(b)
		_, _ = ParseReceiptPlist(b)
	})
}
