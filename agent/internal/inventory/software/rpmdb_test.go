package software

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

// The Berkeley DB and NDB databases under testdata/centos7 and
// testdata/opensuse hold the same three packages; testdata/rpmdb/make.sh
// made them and recorded what rpm itself lists in testdata/rpmdb/*.list.

const (
	bdbFixture = "testdata/centos7/var/lib/rpm/Packages"
	ndbFixture = "testdata/opensuse/var/lib/rpm/Packages.db"
)

// rpmList reads a list make.sh recorded with
// `rpm -qa --qf '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE} %{ARCH}'`, in
// the form readRPM gives versions (no epoch 0).
func rpmList(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile("testdata/rpmdb/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for l := range strings.Lines(strings.TrimSpace(string(b))) {
		f := strings.Fields(l)
		out = append(out, f[0]+" "+strings.TrimPrefix(f[1], "0:")+" "+f[2])
	}
	return out
}

func pkgList(pkgs []wire.Package) []string {
	var out []string
	for _, p := range pkgs {
		out = append(out, p.Name+" "+p.Version+" "+p.Arch)
	}
	return out
}

// readRPMFile runs readRPM on a tree holding data at path.
func readRPMFile(path string, data []byte) ([]wire.Package, []error) {
	return readRPM(fstest.MapFS{path: {Data: data}})
}

func TestReadRPMFormatsAgreeWithRPM(t *testing.T) {
	for _, tc := range []struct{ file, path, list string }{
		{bdbFixture, rpmBDB, "bdb.list"},
		{ndbFixture, rpmNDB, "ndb.list"},
	} {
		t.Run(tc.list, func(t *testing.T) {
			data, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			pkgs, errs := readRPMFile(tc.path, data)
			if len(errs) != 0 {
				t.Fatalf("readRPM errors: %v", errs)
			}
			got, want := strings.Join(sortedCopy(pkgList(pkgs)), "\n"), strings.Join(rpmList(t, tc.list), "\n")
			if got != want {
				t.Errorf("readRPM(%s) =\n%s\nrpm -qa says\n%s", tc.file, got, want)
			}
			for _, p := range pkgs {
				if p.Source != wire.SourceRPM || p.InstallDate.IsZero() || p.SizeBytes == 0 && p.Name == "umbra-hello" {
					t.Errorf("package %+v", p)
				}
				if p.Name == "umbra-hello" && p.Publisher != "Umbra Fixtures Inc." {
					t.Errorf("umbra-hello publisher %q, want the vendor", p.Publisher)
				}
				if p.Name == "umbra-outils" && p.Publisher != "Équipe Umbra <equipe@example.com>" {
					t.Errorf("umbra-outils publisher %q, want the packager", p.Publisher)
				}
			}
		})
	}
}

// TestReadRPMBerkeleyDBVariants reads the fixture's packages from a
// database written on a big-endian host and from one with page checksums.
func TestReadRPMBerkeleyDBVariants(t *testing.T) {
	want := strings.Join(rpmList(t, "bdb.list"), "\n")
	for _, f := range []string{"testdata/rpmdb/Packages-bigendian", "testdata/rpmdb/Packages-checksums"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pkgs, errs := readRPMFile(rpmBDB, data)
		if got := strings.Join(sortedCopy(pkgList(pkgs)), "\n"); got != want || len(errs) != 0 {
			t.Errorf("readRPM(%s) =\n%s\n%v\nwant\n%s", f, got, errs, want)
		}
	}
	// One package in 512-byte pages: its header spans several.
	data, err := os.ReadFile("testdata/rpmdb/Packages-small")
	if err != nil {
		t.Fatal(err)
	}
	pkgs, errs := readRPMFile(rpmBDB, data)
	if len(pkgs) != 1 || len(errs) != 0 || !strings.Contains(want, pkgList(pkgs)[0]) {
		t.Errorf("readRPM(Packages-small) = %+v, %v", pkgs, errs)
	}
}

// TestCollectFSCorruptRPMCostsOnlyRPM: a broken rpm database beside a
// dpkg one leaves the dpkg packages listed.
func TestCollectFSCorruptRPMCostsOnlyRPM(t *testing.T) {
	status, err := os.ReadFile("testdata/debian/var/lib/dpkg/status")
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(bdbFixture)
	if err != nil {
		t.Fatal(err)
	}
	tree := fstest.MapFS{"var/lib/dpkg/status": {Data: status}, rpmBDB: {Data: good[:len(good)/2]}}
	pkgs, errs := CollectFS(t.Context(), tree, LinuxSources)
	var rpmErrs []error
	dpkg := 0
	for _, e := range errs {
		var se *source.Error
		if errors.As(e, &se) && se.Source == wire.SourceRPM {
			rpmErrs = append(rpmErrs, e)
		}
	}
	for _, p := range pkgs {
		if p.Source == wire.SourceDpkg {
			dpkg++
		}
		if p.Source == wire.SourceRPM {
			t.Errorf("rpm package %+v from a truncated database", p)
		}
	}
	rpmOnlyError(t, rpmErrs, "/var/lib/rpm/Packages: file has 6 pages of 4096 bytes, its metadata says 12: truncated")
	if dpkg != 6 {
		t.Errorf("%d dpkg packages, want the 6 of the fixture", dpkg)
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// rpmOnlyError checks that errs is one or more errors of the rpm source
// and that the first says want.
func rpmOnlyError(t *testing.T, errs []error, want string) {
	t.Helper()
	if len(errs) == 0 {
		t.Fatalf("no error, want %q", want)
	}
	for _, e := range errs {
		var se *source.Error
		if !errors.As(e, &se) || se.Source != wire.SourceRPM || source.IsUnavailable(e) {
			t.Errorf("error %v: want a *source.Error of %s, not unavailable", e, wire.SourceRPM)
		}
	}
	if !strings.Contains(errs[0].Error(), want) {
		t.Errorf("error %q, want %q", errs[0], want)
	}
}

func TestReadRPMBerkeleyDBCorrupt(t *testing.T) {
	good, err := os.ReadFile(bdbFixture)
	if err != nil {
		t.Fatal(err)
	}
	const ps = 4096
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	// An overflow page of one package: its chain is broken, the others
	// are listed.
	ovf := -1
	for n := 1; n < len(good)/ps; n++ {
		if good[n*ps+25] == bdbPageOverflow && binary.LittleEndian.Uint32(good[n*ps+16:]) == 0 && binary.LittleEndian.Uint32(good[n*ps+12:]) == 0 {
			ovf = n // a one-page chain
			break
		}
	}
	if ovf < 0 {
		t.Fatal("no one-page overflow chain in the fixture")
	}
	tests := []struct {
		name    string
		data    []byte
		want    string
		survive int // packages still listed
	}{
		{"truncated", good[:len(good)-ps], "truncated", 0},
		{"half a page", good[:300], "shorter than its metadata page", 0},
		{"magic", mod(func(b []byte) { b[12] ^= 0xff }), "not a Berkeley DB hash database", 0},
		{"btree", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[12:], bdbBtreeMagic) }), "btree", 0},
		{"page size", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[20:], 1000) }), "page size 1000", 0},
		{"encrypted", mod(func(b []byte) { b[24] = 1 }), "encrypted", 0},
		{"overflow page type", mod(func(b []byte) { b[ovf*ps+25] = 0 }), "not an overflow page", 2},
		{"overflow length", mod(func(b []byte) { binary.LittleEndian.PutUint16(b[ovf*ps+22:], 100) }), "holds 100 bytes", 2},
		{"overflow loop", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[ovf*ps+16:], uint32(ovf)) }), "claims", 2},
		{"header inside", mod(func(b []byte) { b[ovf*ps+bdbPageHeader+3] = 0xff }), "header", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkgs, errs := readRPMFile(rpmBDB, tc.data)
			rpmOnlyError(t, errs, tc.want)
			if len(pkgs) != tc.survive {
				t.Errorf("listed %d packages, want %d", len(pkgs), tc.survive)
			}
		})
	}
}

func TestReadRPMNDBCorrupt(t *testing.T) {
	good, err := os.ReadFile(ndbFixture)
	if err != nil {
		t.Fatal(err)
	}
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	// The first slot and the blob it points to.
	slot := ndbHeaderSize
	blob := int(binary.LittleEndian.Uint32(good[slot+8:])) * ndbBlockSize
	size := int(binary.LittleEndian.Uint32(good[slot+12:])) * ndbBlockSize
	tests := []struct {
		name    string
		data    []byte
		want    string
		survive int
	}{
		{"magic", mod(func(b []byte) { b[0] = 'X' }), "not an rpm NDB database", 0},
		{"version", mod(func(b []byte) { b[4] = 9 }), "NDB version 9", 0},
		{"slot pages", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[12:], 1000) }), "truncated", 0},
		{"slot magic", mod(func(b []byte) { b[slot+1] = 'X' }), "slot at offset 32 has no magic", 0},
		{"blob outside", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[slot+8:], 1<<20) }), "outside the file's blob area", 2},
		{"blob in the slots", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[slot+8:], 1) }), "outside the file's blob area", 2},
		{"blob head", mod(func(b []byte) { b[blob+4]++ }), "no blob of this package", 2},
		{"blob length", mod(func(b []byte) { b[blob+12]++ }), "cut or overwritten", 2},
		{"blob tail", mod(func(b []byte) { b[blob+size-1] = 'X' }), "cut or overwritten", 2},
		{"blob content", mod(func(b []byte) { b[blob+ndbBlobHead+100] ^= 1 }), "checksum", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkgs, errs := readRPMFile(rpmNDB, tc.data)
			rpmOnlyError(t, errs, tc.want)
			if len(pkgs) != tc.survive {
				t.Errorf("listed %d packages, want %d", len(pkgs), tc.survive)
			}
		})
	}
}

// TestReadRPMDamageAnywhere flips each byte of the databases and cuts
// them at every block: no panic, and either an rpm error or packages.
func TestReadRPMDamageAnywhere(t *testing.T) {
	for _, tc := range []struct{ file, path string }{{bdbFixture, rpmBDB}, {ndbFixture, rpmNDB}} {
		good, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		b := append([]byte(nil), good...)
		step := 13 // a prime: every field of every page gets some flips
		if testing.Short() {
			step = 97
		}
		for i := 0; i < len(b); i += step {
			b[i] ^= 0x5a
			pkgs, errs := readRPMFile(tc.path, b)
			b[i] ^= 0x5a
			if len(pkgs) == 0 && len(errs) == 0 {
				t.Fatalf("%s with byte %d flipped: neither packages nor an error", tc.file, i)
			}
		}
		for n := 0; n < len(good); n += 16 {
			pkgs, errs := readRPMFile(tc.path, good[:n])
			if len(errs) == 0 {
				t.Fatalf("%s cut at %d: no error (%d packages)", tc.file, n, len(pkgs))
			}
		}
	}
}

func FuzzBDBHashRecords(f *testing.F) {
	seed(f, "testdata/rpmdb/Packages-small", bdbFixture)
	f.Fuzz(func(t *testing.T, b []byte) {
		blobs, _, err := rpmBDBHeaders(b)
		if err != nil && len(blobs) > 0 {
			t.Fatal("blobs with an error")
		}
		for _, h := range blobs {
			_, _ = ParseRPMHeader(h)
		}
	})
}

func FuzzRPMNDBHeaders(f *testing.F) {
	seed(f, "testdata/rpmdb/Packages-small.db", ndbFixture)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, checksums := range []bool{true, false} {
			blobs, _, err := ndbHeaders(b, checksums)
			if err != nil && len(blobs) > 0 {
				t.Fatal("blobs with an error")
			}
			for _, h := range blobs {
				_, _ = ParseRPMHeader(h)
			}
		}
	})
}
