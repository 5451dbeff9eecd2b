package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)

// Every report format ever written must keep decoding: testdata/v<N>/ holds
// reports as agents of schema N wrote them.
func TestDecodeOldSchemas(t *testing.T) {
	files, err := filepath.Glob("testdata/v*/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Decode(bytes.NewReader(data), DefaultLimits, now)
			if err != nil {
				t.Fatalf("Decode(%s) = %v", f, err)
			}
			if r.Kind != KindInventory || r.Inventory == nil || r.Inventory.Host.Hostname == "" {
				t.Fatalf("Decode(%s): kind %q, inventory %+v", f, r.Kind, r.Inventory)
			}
			if len(r.Inventory.Interfaces) == 0 {
				t.Errorf("Decode(%s): no interfaces", f)
			}
			// What we decode, we can write and read back unchanged.
			again, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			r2, err := Decode(bytes.NewReader(again), DefaultLimits, now)
			if err != nil {
				t.Fatalf("re-decoding: %v", err)
			}
			if a, b := mustJSON(t, r), mustJSON(t, r2); a != b {
				t.Errorf("round trip changed the report:\n%s\n%s", a, b)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func validReport() *Report {
	return &Report{
		Schema: Schema, ID: "r-1", Kind: KindInventory, AgentID: "a-1", AgentVersion: "dev",
		CreatedAt: now,
		Inventory: &Inventory{
			CollectedAt: now, Full: true,
			Host:       Host{Hostname: "h"},
			Interfaces: []Interface{{Name: "eth0", MAC: "00:11:22:33:44:55", Addrs: []string{"192.0.2.1/24"}}},
		},
	}
}

func TestDecodeRejects(t *testing.T) {
	long := strings.Repeat("x", DefaultLimits.MaxStringLen+1)
	cases := []struct {
		name   string
		body   func() string
		isDec  bool   // *DecodeError
		isVal  bool   // *ValidationError
		isBig  bool   // ErrTooLarge
		substr string // in the message
	}{
		{name: "empty", body: func() string { return "" }, isDec: true, substr: "empty body"},
		{name: "not json", body: func() string { return "hello" }, isDec: true, substr: "malformed JSON"},
		{name: "truncated", body: func() string { return `{"schema":1,"id":"x"` }, isDec: true, substr: "truncated"},
		{name: "wrong type", body: func() string { return `{"schema":"one"}` }, isDec: true, substr: "field schema"},
		{name: "nested wrong type", body: func() string {
			return `{"schema":1,"inventory":{"interfaces":[{"name":7}]}}`
		}, isDec: true, substr: "inventory.interfaces.name"},
		{name: "trailing data", body: func() string { return mustJSON(t, validReport()) + "{}" }, isDec: true, substr: "trailing"},
		{name: "array", body: func() string { return `[]` }, isDec: true, substr: "want wire.Report"},
		{name: "too large", body: func() string { return `{"id":"` + strings.Repeat("a", int(DefaultLimits.MaxBodyBytes)) + `"}` }, isBig: true},
		{name: "missing fields", body: func() string { return `{"schema":1}` }, isVal: true, substr: "id is missing"},
		{name: "future schema", body: func() string {
			r := validReport()
			r.Schema = Schema + 1
			return mustJSON(t, r)
		}, isVal: true, substr: "newer than this collector"},
		{name: "unknown kind", body: func() string {
			r := validReport()
			r.Kind = "bogus"
			return mustJSON(t, r)
		}, isVal: true, substr: `unknown kind "bogus"`},
		{name: "hostile id", body: func() string {
			r := validReport()
			r.ID = "x'); DROP TABLE reports; --"
			return mustJSON(t, r)
		}, isVal: true, substr: "id has a character outside"},
		{name: "long hostname", body: func() string {
			r := validReport()
			r.Inventory.Host.Hostname = long
			return mustJSON(t, r)
		}, isVal: true, substr: "hostname is 1025 bytes"},
		{name: "bad mac", body: func() string {
			r := validReport()
			r.Inventory.Interfaces[0].MAC = "zz:zz"
			return mustJSON(t, r)
		}, isVal: true, substr: "interfaces[0].mac"},
		{name: "bad addr", body: func() string {
			r := validReport()
			r.Inventory.Interfaces[0].Addrs = []string{"300.1.1.1/24"}
			return mustJSON(t, r)
		}, isVal: true, substr: "not an address in CIDR"},
		{name: "bad interface kind", body: func() string {
			r := validReport()
			r.Inventory.Interfaces[0].Kind = "carrier-pigeon"
			return mustJSON(t, r)
		}, isVal: true, substr: `interfaces[0].kind "carrier-pigeon"`},
		{name: "bad gateway", body: func() string {
			r := validReport()
			r.Inventory.Host.Gateways = []string{"192.0.2.1", "gw.example"}
			return mustJSON(t, r)
		}, isVal: true, substr: `host.gateways[1]: "gw.example" is not an address`},
		{name: "too many interfaces", body: func() string {
			r := validReport()
			r.Inventory.Interfaces = make([]Interface, DefaultLimits.MaxInterfaces+1)
			return mustJSON(t, r)
		}, isVal: true, substr: "limit is 512"},
		{name: "clock far off", body: func() string {
			r := validReport()
			r.CreatedAt = now.Add(-2 * 366 * 24 * time.Hour)
			return mustJSON(t, r)
		}, isVal: true, substr: "too far from the collector's clock"},
		{name: "inventory clock far off", body: func() string {
			r := validReport()
			r.Inventory.CollectedAt = now.Add(3 * 366 * 24 * time.Hour)
			return mustJSON(t, r)
		}, isVal: true, substr: "inventory.collected_at 2029"},
		{name: "inventory kind without inventory", body: func() string {
			r := validReport()
			r.Inventory = nil
			return mustJSON(t, r)
		}, isVal: true, substr: "without an inventory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(c.body()), DefaultLimits, now)
			if err == nil {
				t.Fatalf("Decode accepted a bad report")
			}
			var de *DecodeError
			var ve *ValidationError
			if got := errors.As(err, &de); got != c.isDec {
				t.Errorf("Decode error %v: DecodeError = %v, want %v", err, got, c.isDec)
			}
			if got := errors.As(err, &ve); got != c.isVal {
				t.Errorf("Decode error %v: ValidationError = %v, want %v", err, got, c.isVal)
			}
			if got := errors.Is(err, ErrTooLarge); got != c.isBig {
				t.Errorf("Decode error %v: ErrTooLarge = %v, want %v", err, got, c.isBig)
			}
			if !strings.Contains(err.Error(), c.substr) {
				t.Errorf("Decode error = %q, want it to contain %q", err, c.substr)
			}
		})
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	r := validReport()
	r.ID = ""
	r.AgentID = ""
	r.Inventory.Host.Hostname = ""
	err := r.Validate(DefaultLimits, now)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want a ValidationError", err)
	}
	if len(ve.Problems) != 3 {
		t.Errorf("Validate problems = %q, want 3", ve.Problems)
	}
}

func TestValidateBoundsProblemList(t *testing.T) {
	r := validReport()
	r.Inventory.Interfaces = make([]Interface, 100)
	err := r.Validate(DefaultLimits, now)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want a ValidationError", err)
	}
	if len(ve.Problems) != maxProblems+1 {
		t.Errorf("Validate listed %d problems, want %d", len(ve.Problems), maxProblems+1)
	}
}

// FuzzDecode: no input panics; what is accepted survives a round trip.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/v*/*.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"schema":1}`))
	f.Add([]byte(`{"inventory":{"interfaces":[{"mac":"0011.2233.4455"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(bytes.NewReader(data), DefaultLimits, now)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(bytes.NewReader(again), DefaultLimits, now); err != nil {
			t.Fatalf("accepted report does not decode after a round trip: %v", err)
		}
	})
}

func TestDecodeFullInventory(t *testing.T) {
	data, err := os.ReadFile("testdata/v1/inventory-full.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Decode(bytes.NewReader(data), DefaultLimits, now)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	inv := r.Inventory
	if inv.Hardware == nil || inv.Hardware.System.Serial != "7XK2QZ3" || len(inv.Hardware.Monitors) != 1 {
		t.Errorf("hardware = %+v", inv.Hardware)
	}
	if len(inv.Software) != 3 || inv.Software[1].Source != SourceSnap {
		t.Errorf("software = %+v", inv.Software)
	}
	if len(inv.Users) != 2 || len(inv.Listeners) != 2 || inv.Security == nil || !inv.Security.Encryption[0].Encrypted {
		t.Errorf("users %+v listeners %+v security %+v", inv.Users, inv.Listeners, inv.Security)
	}
}

func TestValidateNewSections(t *testing.T) {
	long := strings.Repeat("x", DefaultLimits.MaxStringLen+1)
	cases := []struct {
		name   string
		mod    func(*Inventory)
		substr string
	}{
		{"package without name", func(i *Inventory) { i.Software = []Package{{Source: SourceDpkg}} }, "software[0].name is missing"},
		{"package bad source", func(i *Inventory) { i.Software = []Package{{Name: "a", Source: "Bad Source"}} }, "software[0].source"},
		{"package long version", func(i *Inventory) { i.Software = []Package{{Name: "a", Source: "rpm", Version: long}} }, "software[0].version is 1025 bytes"},
		{"too many packages", func(i *Inventory) {
			i.Software = make([]Package, DefaultLimits.MaxPackages+1)
		}, "limit is 20000"},
		{"delta and software", func(i *Inventory) {
			i.Software = []Package{{Name: "a", Source: "rpm"}}
			i.SoftwareDelta = &SoftwareDelta{BaseDigest: SoftwareDigest(nil), Digest: SoftwareDigest(nil)}
		}, "both software and software_delta"},
		{"delta bad digest", func(i *Inventory) { i.SoftwareDelta = &SoftwareDelta{BaseDigest: "zz", Digest: SoftwareDigest(nil)} }, "base_digest is not a SHA-256"},
		{"delta removed without id", func(i *Inventory) {
			i.SoftwareDelta = &SoftwareDelta{BaseDigest: SoftwareDigest(nil), Digest: SoftwareDigest(nil), Removed: []PackageKey{{Source: "dpkg"}}}
		}, "removed[0].id is missing"},
		{"disk without name", func(i *Inventory) { i.Hardware = &Hardware{Disks: []Disk{{Model: "x"}}} }, "disks[0].name is missing"},
		{"long serial", func(i *Inventory) { i.Hardware = &Hardware{System: System{Serial: long}} }, "system.serial is 1025"},
		{"too many monitors", func(i *Inventory) { i.Hardware = &Hardware{Monitors: make([]Monitor, 33)} }, "monitors has 33 entries"},
		{"negative battery", func(i *Inventory) { i.Hardware = &Hardware{Batteries: []Battery{{CycleCount: -1}}} }, "must not be negative"},
		{"bad port", func(i *Inventory) { i.Listeners = []Listener{{Protocol: "tcp", Port: 70000}} }, "port 70000 is out of range"},
		{"bad protocol", func(i *Inventory) { i.Listeners = []Listener{{Protocol: "sctp", Port: 1}} }, "not tcp or udp"},
		{"user without name", func(i *Inventory) { i.Users = []User{{ID: "0"}} }, "users[0].name is missing"},
		{"bad service state", func(i *Inventory) { i.Services = []Service{{Name: "x", State: "RUNNING NOW"}} }, "services[0].state"},
		{"firewall without name", func(i *Inventory) { i.Security = &Security{Firewalls: []Firewall{{Enabled: true}}} }, "firewalls[0].name is missing"},
		{"absurd offset", func(i *Inventory) { i.OS.UTCOffsetSeconds = 86400 }, "utc_offset_seconds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := validReport()
			c.mod(r.Inventory)
			err := r.Validate(DefaultLimits, now)
			if err == nil || !strings.Contains(err.Error(), c.substr) {
				t.Errorf("Validate = %v, want it to contain %q", err, c.substr)
			}
		})
	}
}

func TestSoftwareDigestIgnoresOrder(t *testing.T) {
	a := []Package{{Name: "a", Version: "1", Source: "dpkg"}, {Name: "b", Version: "2", Source: "rpm", Arch: "x86_64"}}
	b := []Package{a[1], a[0]}
	if SoftwareDigest(a) != SoftwareDigest(b) {
		t.Error("SoftwareDigest depends on order")
	}
	c := []Package{a[0], {Name: "b", Version: "3", Source: "rpm", Arch: "x86_64"}}
	if SoftwareDigest(a) == SoftwareDigest(c) {
		t.Error("SoftwareDigest ignores a version change")
	}
}

// TestSoftwareDigestMatchesItsDefinition checks SoftwareDigest against the
// definition agents and collectors share (the sorted lines
// "source\0id\0arch\0scope\0version\n", hashed), on lists with ids and
// without, duplicates, and bytes that sort before the separators.
func TestSoftwareDigestMatchesItsDefinition(t *testing.T) {
	def := func(pkgs []Package) string {
		lines := make([]string, 0, len(pkgs))
		for _, p := range pkgs {
			k := p.Key()
			lines = append(lines, k.Source+"\x00"+k.ID+"\x00"+k.Arch+"\x00"+k.Scope+"\x00"+p.Version+"\n")
		}
		slices.Sort(lines)
		h := sha256.New()
		for _, l := range lines {
			h.Write([]byte(l))
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"", "a", "ab", "b", "a\x00", "\x01", "zz", "é", "a\n", "libc6", "1.0", "1.0-1"}
	pick := func() string { return words[rng.IntN(len(words))] }
	for n := range 200 {
		pkgs := make([]Package, n%23)
		for i := range pkgs {
			pkgs[i] = Package{Source: pick(), Name: pick(), ID: pick(), Arch: pick(), Scope: pick(), Version: pick()}
		}
		if got, want := SoftwareDigest(pkgs), def(pkgs); got != want {
			t.Fatalf("list %d (%d packages): %s, want %s", n, len(pkgs), got, want)
		}
	}
}
