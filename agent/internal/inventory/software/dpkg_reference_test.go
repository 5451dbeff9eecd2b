package software

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/umbrasec/umbra/shared/wire"
)

// The parser of dpkg's status file before it streamed the file: the
// reference its successor must agree with (FuzzDpkgStreamingAgrees).

// referenceParseDpkgStatus reads dpkg's status file (/var/lib/dpkg/status) and
// returns the installed packages. A broken stanza is reported and skipped;
// the others are still returned.
func referenceParseDpkgStatus(data []byte) ([]wire.Package, []error) {
	var pkgs []wire.Package
	pe := parseErrors{src: wire.SourceDpkg}
	line := 0
	for len(data) > 0 {
		var stanza []byte
		start := line + 1
		stanza, data, line = nextStanza(data, line)
		if len(bytes.TrimSpace(stanza)) == 0 {
			continue
		}
		f, err := controlFields(stanza)
		if err != nil {
			pe.add(fmt.Errorf("stanza at line %d: %w", start, err))
			continue
		}
		name := f["Package"]
		if name == "" {
			pe.add(fmt.Errorf("stanza at line %d has no Package field", start))
			continue
		}
		if !referenceDpkgInstalled(f["Status"]) {
			continue
		}
		p := wire.Package{
			Name:      name,
			Version:   f["Version"],
			Arch:      f["Architecture"],
			Publisher: f["Maintainer"],
			Source:    wire.SourceDpkg,
		}
		if kb, err := strconv.ParseUint(strings.TrimSpace(f["Installed-Size"]), 10, 40); err == nil {
			p.SizeBytes = kb * 1024
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, pe.list()
}

// referenceDpkgInstalled reports whether a Status field ("install ok installed")
// says the package's files are on disk.
func referenceDpkgInstalled(status string) bool {
	fields := strings.Fields(status)
	if len(fields) != 3 {
		return false
	}
	switch fields[2] {
	case "installed", "half-configured", "unpacked", "triggers-awaited", "triggers-pending":
		return true
	}
	return false
}

// controlFields parses a Debian control stanza (RFC 822-like). Only the
// first line of a multi-line field is kept.
func controlFields(stanza []byte) (map[string]string, error) {
	f := make(map[string]string, 16)
	n := 0
	for l := range bytes.Lines(stanza) {
		n++
		l = bytes.TrimRight(l, "\r\n")
		if len(l) == 0 {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			if n == 1 {
				return nil, errors.New("continuation line before any field")
			}
			continue
		}
		k, v, ok := bytes.Cut(l, []byte(":"))
		if !ok || len(k) == 0 || bytes.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("line %d of the stanza is not a field: %q", n, clipBytes(l, 40))
		}
		f[string(k)] = string(bytes.TrimSpace(v))
	}
	return f, nil
}

// FuzzDpkgStreamingAgrees checks that the streaming parser returns what
// the reference does, packages and errors, on any input.
func FuzzDpkgStreamingAgrees(f *testing.F) {
	seed(f, "testdata/debian/var/lib/dpkg/status", "/var/lib/dpkg/status")
	f.Add([]byte("Package: a\nStatus: install ok installed\nPackage: b\n \n\n\n x\n\nPackage: c\nStatus: install ok installed\r\nInstalled-Size: 099\n   "))
	f.Add([]byte("Package: a\nStatus: install ok installed\nInstalled-Size: 1099511627776\n\nbad line\n\nPackage: d\nStatus:\tx  y\u00a0installed\nInstalled-Size: +5"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotErrs := ParseDpkgStatus(b)
		want, wantErrs := referenceParseDpkgStatus(b)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ParseDpkgStatus = %+v, reference %+v", got, want)
		}
		if fmt.Sprint(gotErrs) != fmt.Sprint(wantErrs) {
			t.Fatalf("ParseDpkgStatus errors = %v, reference %v", gotErrs, wantErrs)
		}
	})
}

// TestDpkgLongLine reads a stanza whose lines outgrow the reader's buffer.
func TestDpkgLongLine(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	data := []byte("Package: " + long + "\nDepends: " + long + "\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStatus: install ok installed\n")
	got, errs := ParseDpkgStatus(data)
	want, _ := referenceParseDpkgStatus(data)
	if len(errs) > 0 || !reflect.DeepEqual(got, want) || len(got) != 2 || got[0].Name != long {
		t.Errorf("ParseDpkgStatus(long lines) = %d packages, %v", len(got), errs)
	}
}
