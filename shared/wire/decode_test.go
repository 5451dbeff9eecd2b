package wire

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// DecodeSizedWith takes the fast decoder's report when it decides (and
// still validates it), and decodes with encoding/json when it does not.
func TestDecodeSizedWith(t *testing.T) {
	body := []byte(mustJSON(t, validReport()))
	var seen []byte
	decided := func(rep *Report) FastDecoder {
		return func(data []byte) (*Report, bool) {
			seen = bytes.Clone(data)
			return rep, true
		}
	}

	// Decided: the fast decoder's report, validated.
	fast := validReport()
	fast.AgentVersion = "from the fast decoder"
	got, n, err := DecodeSizedWith(bytes.NewReader(body), len(body), DefaultLimits, now, decided(fast))
	if err != nil || got != fast || n != len(body) || !bytes.Equal(seen, body) {
		t.Fatalf("DecodeSizedWith = %v, %d, %v (fast decoder saw %q); want the fast decoder's report, %d", got, n, err, seen, len(body))
	}
	bad := validReport()
	bad.ID = ""
	var ve *ValidationError
	if _, _, err := DecodeSizedWith(bytes.NewReader(body), len(body), DefaultLimits, now, decided(bad)); !errors.As(err, &ve) {
		t.Errorf("an invalid report from the fast decoder: %v, want a ValidationError", err)
	}

	// Not decided: encoding/json's answer, word for word, for good and
	// bad input alike.
	undecided := func([]byte) (*Report, bool) { return nil, false }
	for _, in := range []string{string(body), `{"schema":"one"}`, `{"schema":1}`, mustJSON(t, validReport()) + "x", ``, `null`} {
		want, wantN, wantErr := DecodeSized(strings.NewReader(in), 0, DefaultLimits, now)
		for _, f := range []FastDecoder{undecided, nil} {
			got, gotN, gotErr := DecodeSizedWith(strings.NewReader(in), 0, DefaultLimits, now, f)
			if gotN != wantN || (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() ||
				gotErr == nil && mustJSON(t, got) != mustJSON(t, want) {
				t.Errorf("undecided, %q: %d, %v; DecodeSized %d, %v", in, gotN, gotErr, wantN, wantErr)
			}
		}
	}

	// Too large: refused before any decoder sees it.
	seen = nil
	lim := DefaultLimits
	lim.MaxBodyBytes = int64(len(body) - 1)
	if _, _, err := DecodeSizedWith(bytes.NewReader(body), 0, lim, now, decided(fast)); !errors.Is(err, ErrTooLarge) || seen != nil {
		t.Errorf("too large: %v (fast decoder saw %d bytes), want ErrTooLarge unseen", err, len(seen))
	}
}

// BenchmarkDecode decodes and validates a report as the load generator
// makes them (200 packages) with encoding/json; the collector's fast
// decoder is measured by its api package's BenchmarkDecodeReport.
func BenchmarkDecode(b *testing.B) {
	data, err := os.ReadFile("testdata/loadgen-200.json")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("DecodeSized", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := DecodeSized(bytes.NewReader(data), len(data), DefaultLimits, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	rep, _, err := DecodeSized(bytes.NewReader(data), len(data), DefaultLimits, now)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Validate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := rep.Validate(DefaultLimits, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// packageOK, the shortcut of validation, agrees with validatePackage on
// every package, good or bad.
func TestPackageOKAgreesWithValidatePackage(t *testing.T) {
	long := strings.Repeat("x", DefaultLimits.MaxStringLen+1)
	base := Package{Name: "openssl", Version: "3.0.2-0ubuntu1", Publisher: "Ubuntu", Arch: "amd64", Source: SourceDpkg,
		ID: "openssl", Location: "/usr", Scope: "user:bob"}
	mods := []func(*Package){
		func(*Package) {},
		func(p *Package) { p.Name = "" },
		func(p *Package) { p.Source = "" },
		func(p *Package) { p.Source = "Dpkg" },
		func(p *Package) { p.Source = "dpkg pkg" },
		func(p *Package) { p.Source = strings.Repeat("a", 64) },
		func(p *Package) { p.Source = strings.Repeat("a", 65) },
		func(p *Package) { p.Source = "windows-registry_2.x" },
		func(p *Package) { p.Name = long },
		func(p *Package) { p.Version = long },
		func(p *Package) { p.Publisher = long },
		func(p *Package) { p.Arch = long },
		func(p *Package) { p.ID = long },
		func(p *Package) { p.Location = long },
		func(p *Package) { p.Scope = long },
		func(p *Package) { p.Name = long[:DefaultLimits.MaxStringLen] },
		func(p *Package) { *p = Package{Name: "a", Source: "rpm"} },
	}
	for i, mod := range mods {
		p := base
		mod(&p)
		v := &validator{lim: DefaultLimits, now: now}
		validatePackage(v, "p", p)
		if got, want := v.packageOK(p), len(v.problems) == 0; got != want {
			t.Errorf("case %d: packageOK = %v, validatePackage found %q", i, got, v.problems)
		}
	}
}
