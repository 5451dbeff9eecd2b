package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

var decodeNow = time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)

// fixtures are the reports of shared/wire's testdata: every schema's, and
// one as the load generator (collector/internal/loadgen) writes them.
func fixtures(t testing.TB) map[string][]byte {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "wire", "testdata")
	files, err := filepath.Glob(filepath.Join(dir, "v*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", dir, err)
	}
	files = append(files, filepath.Join(dir, "loadgen-200.json"))
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = data
	}
	return out
}

// stdUnmarshal is how wire decodes a report's JSON without a fast
// decoder: encoding/json's Decoder, then Decoder.More.
func stdUnmarshal(data []byte) (*wire.Report, error) {
	var rep wire.Report
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&rep); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	return &rep, nil
}

// checkSame fails when decoding with fastDecode answers data otherwise
// than encoding/json alone: another report, or an answer where
// encoding/json has an error, or another error. It returns whether
// fastDecode decided.
func checkSame(t testing.TB, data []byte) bool {
	t.Helper()
	want, wantErr := stdUnmarshal(data)
	fast, ok := fastDecode(data)
	if ok {
		if wantErr != nil {
			t.Fatalf("fast decoder accepted what encoding/json refuses (%v):\n%q", wantErr, data)
		}
		sameReport(t, data, want, fast)
	}
	// The whole of wire's decoding, validation included, with and without.
	want, wantN, wantErr := wire.DecodeSized(bytes.NewReader(data), len(data), wire.DefaultLimits, decodeNow)
	got, gotN, gotErr := wire.DecodeSizedWith(bytes.NewReader(data), len(data), wire.DefaultLimits, decodeNow, fastDecode)
	switch {
	case (wantErr == nil) != (gotErr == nil) || wantN != gotN:
		t.Fatalf("DecodeSizedWith = %d bytes, error %v; without the fast decoder %d, %v; on:\n%q", gotN, gotErr, wantN, wantErr, data)
	case wantErr != nil:
		if gotErr.Error() != wantErr.Error() {
			t.Fatalf("DecodeSizedWith error %q, without the fast decoder %q, on:\n%q", gotErr, wantErr, data)
		}
	default:
		sameReport(t, data, want, got)
	}
	return ok
}

func sameReport(t testing.TB, data []byte, want, got *wire.Report) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		w, _ := json.Marshal(want)
		g, _ := json.Marshal(got)
		t.Fatalf("decoded differently from encoding/json:\nencoding/json %s\nfast          %s\ninput %q", w, g, data)
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func validReport() *wire.Report {
	return &wire.Report{
		Schema: wire.Schema, ID: "r-1", Kind: wire.KindInventory, AgentID: "a-1", AgentVersion: "dev",
		CreatedAt: decodeNow,
		Inventory: &wire.Inventory{
			CollectedAt: decodeNow, Full: true,
			Host:       wire.Host{Hostname: "h"},
			Interfaces: []wire.Interface{{Name: "eth0", MAC: "00:11:22:33:44:55", Addrs: []string{"192.0.2.1/24"}}},
		},
	}
}

// The fast decoder must decide (and agree) on every real report, or it
// brings nothing.
func TestFastDecodeTakesRealReports(t *testing.T) {
	for name, data := range fixtures(t) {
		if !checkSame(t, data) {
			t.Errorf("%s: the fast decoder did not decide", name)
		}
	}
	// Non-ASCII text and escapes, as Windows hosts send: still fast.
	r := validReport()
	r.Inventory.Software = []wire.Package{{Name: "Wörterbuch ™ 日本語 \U0001F600", Publisher: `"Quoted" <Ltd>`,
		Location: `C:\Program Files\Wörterbuch\`, Source: wire.SourceWindowsProgram}}
	if data := []byte(mustJSON(t, r)); !checkSame(t, data) {
		t.Errorf("the fast decoder did not decide on %s", data)
	}
}

// hostile are inputs on which JSON decoders are known to differ: each
// must be answered exactly as encoding/json answers it.
var hostile = []string{
	``, ` `, `null`, `[]`, `"x"`, `1`, `{}`, ` {} `, `{}}`, `{}]`, `{} x`, `{}{}`, `{} {"id":"a"}`, "{}\x00",
	// duplicate keys: encoding/json merges into what the first one set
	`{"inventory":{"host":{"hostname":"a"}},"inventory":{"full":true}}`,
	`{"inventory":{"host":{"hostname":"a"}},"inventory":null}`,
	`{"inventory":{"interfaces":[{"name":"a","mtu":5},{"name":"c"}]},"inventory":{"interfaces":[{"name":"b"}]}}`,
	`{"inventory":{"interfaces":[{"name":"a","mtu":5}]},"inventory":{"interfaces":[]}}`,
	`{"inventory":{"interfaces":[{"name":"a","mtu":5}]},"inventory":{"interfaces":null}}`,
	`{"inventory":{"interfaces":[{"name":"a","addrs":["x","y"]}]},"inventory":{"interfaces":[{"addrs":["z"]}]}}`,
	`{"inventory":{"software":[{"name":"a"}]},"inventory":{"software":[{"version":"1"}]}}`,
	`{"id":"a","id":"b"}`, `{"kind":"inventory","kind":"discovery"}`,
	// key case and Unicode folding
	`{"ID":"x"}`, `{"Id":"x","id":"y"}`, `{"id":"y","Id":"x"}`, `{"AGENT_ID":"x"}`,
	"{\"\u0130d\":\"x\"}", "{\"\u212Aind\":\"x\"}", "{\"\u017Fchema\":1}", `{"\u0069d":"x"}`, `{"i\u0064":"x"}`,
	// strings: escapes, surrogates, control characters, invalid UTF-8
	`{"id":"\ud800"}`, `{"id":"\ud800\u0041"}`, `{"id":"\udc00\ud800"}`, `{"id":"\u00e9\ud83d\ude00"}`,
	`{"id":"a\/b\b\f\n\r\t\\\""}`, `{"id":"\u0000"}`, "{\"id\":\"\x01\"}", "{\"id\":\"\x7f\"}", `{"id":"\x"}`, `{"id":"\u12"}`,
	"{\"id\":\"\xff\"}", "{\"id\":\"\xc3\"}", "{\"id\":\"\xed\xa0\x80\"}", "{\"\xff\":1}", "{\"id\":\"a\"}\xff",
	// numbers
	`{"schema":1.0}`, `{"schema":1e2}`, `{"schema":-0}`, `{"schema":99999999999999999999}`,
	`{"schema":-9223372036854775808}`, `{"schema":9223372036854775807}`, `{"schema":9223372036854775808}`,
	`{"inventory":{"memory":{"total_bytes":-0}}}`, `{"inventory":{"memory":{"total_bytes":-1}}}`,
	`{"inventory":{"memory":{"total_bytes":18446744073709551615}}}`, `{"inventory":{"memory":{"total_bytes":18446744073709551616}}}`,
	`{"inventory":{"cpu":{"mhz":1e309}}}`, `{"inventory":{"cpu":{"mhz":-0}}}`, `{"inventory":{"cpu":{"mhz":1E2}}}`,
	`{"inventory":{"cpu":{"mhz":0.1e-400}}}`, `{"inventory":{"cpu":{"mhz":01}}}`, `{"inventory":{"cpu":{"mhz":1.}}}`,
	`{"inventory":{"cpu":{"mhz":.1}}}`, `{"inventory":{"cpu":{"mhz":+1}}}`, `{"inventory":{"cpu":{"mhz":1e+}}}`,
	`{"inventory":{"cpu":{"mhz":12345678901234567890123456789012345678901234567890}}}`,
	// types
	`{"schema":"1"}`, `{"schema":true}`, `{"schema":null}`, `{"id":null}`, `{"id":1}`, `{"inventory":{"full":"true"}}`,
	`{"inventory":{"full":null}}`, `{"inventory":[]}`, `{"inventory":{"interfaces":{}}}`, `{"inventory":{"interfaces":[1]}}`,
	`{"schema":"one","id":[}`, `{"schema":"one"} x`,
	// syntax, also inside unknown fields
	`{"x":[1,2,]}`, `{"x":tru}`, `{"x":{"a":1,}}`, `{"x":[}`, `{"x":nul}`, `{"x":-}`, `{"x":1e}`, `{"x":"a"`, `{"x":1 2}`,
	`{"x":{"a" 1}}`, `{,}`, `{"a":1,,"b":2}`, `{"x":NaN}`, `{"x":Infinity}`, `{'x':1}`, `{"x":/*c*/1}`, `{"x":1}//`,
	`{"unknown":{"deep":[1,{"x":"y"}],"s":"\u00e9"}}`, `{"x":"` + "\t" + `"}`, "{\"x\":1}\x00", "\ufeff{}",
	// times
	`{"created_at":"2026-11-28T01:00:00Z"}`, `{"created_at":"2026-11-28T1:00:00Z"}`, `{"created_at":"2026-11-28T01:00:00+24:00"}`,
	`{"created_at":"2026-11-28T01:00:00+00:00"}`, `{"created_at":"2026-11-28T01:00:00,5Z"}`, `{"created_at":"2026-11-28T01:00:00.1234567891Z"}`,
	`{"created_at":"2026-11-28t01:00:00z"}`, `{"created_at":"2026-02-29T01:00:00Z"}`, `{"created_at":"2028-02-29T01:00:00Z"}`,
	`{"created_at":"0000-01-01T00:00:00Z"}`, `{"created_at":"2026-11-28T23:59:60Z"}`, `{"created_at":"2026-11-28T01:00:00.Z"}`,
	`{"created_at":"2026-11-28 01:00:00Z"}`, `{"created_at":null}`, `{"created_at":"\u0032026-11-28T01:00:00Z"}`,
	`{"created_at":"2026-11-28T01:00:00.000000000Z"}`, `{"created_at":"2026-11-28T01:00:00.5+01:00"}`, `{"created_at":"2026-04-31T00:00:00Z"}`,
	`{"created_at":"2026-11-28T01:00:00-00:00"}`, `{"created_at":"2026-11-28T01:00:00+01:60"}`, `{"created_at":"2026-11-28T01:00:00+1:00"}`,
	`{"created_at":"9999-12-31T23:59:59.999999999Z"}`, `{"created_at":"2026-11-28T01:00:00.123456789+05:30"}`, `{"created_at":1}`,
	`{"created_at":"2026-11-28T24:00:00Z"}`, `{"created_at":"2026-13-28T01:00:00Z"}`, `{"created_at":"2026-11-28T01:00:00ZZ"}`,
}

func TestFastDecodeHostileInput(t *testing.T) {
	for _, h := range hostile {
		checkSame(t, []byte(h))
	}
	// Nested past encoding/json's bound: refused by encoding/json, and
	// never given to the fast decoder, which recurses.
	deep := []byte(`{"x":` + strings.Repeat("[", maxNesting+1) + strings.Repeat("]", maxNesting+1) + `}`)
	if fastPathSafe(deep) {
		t.Error("fastPathSafe admits nesting deeper than encoding/json's bound")
	}
	checkSame(t, deep)
	// Many brackets but shallow (the packages of a big report): admitted.
	wide := []byte(`{"x":[` + strings.Repeat(`{"a":"[{"},`, maxNesting+1) + `{}]}`)
	if !fastPathSafe(wide) {
		t.Error("fastPathSafe refuses a wide, shallow report")
	}
	checkSame(t, wide)
	if got := depth([]byte(`{"a":"[[[\"{{{","b":[[{}]]}`)); got != 4 {
		t.Errorf("depth = %d, want 4", got)
	}
}

// tokens are what mutations insert: the pieces of JSON decoders disagree
// on.
var tokens = []string{`"`, `\`, `\u`, `\ud800`, `\u0130`, `{`, `}`, `[`, `]`, `,`, `:`, ` `, "\t", `null`, `true`, `1e400`,
	`-0`, `0.5`, `01`, `18446744073709551616`, `"x"`, `{}`, `[]`, "\xff", "\xc3\xa9", "\u212a", `"id":"b",`,
	`"inventory":null,`, `"interfaces":[{"name":"z"}],`, `Z`, `+01:00`, `.5`, `T`, `-`, "\x00", `"ID":"b",`, `"created_at":"2026-11-28T1:00:00Z",`}

// mutate changes data at random: bytes flipped, cut, repeated, or tokens
// inserted.
func mutate(r *rand.Rand, data []byte) []byte {
	out := bytes.Clone(data)
	for n := 1 + r.IntN(3); n > 0 && len(out) > 0; n-- {
		i := r.IntN(len(out))
		switch r.IntN(5) {
		case 0:
			out[i] ^= byte(1 << r.IntN(8))
		case 1:
			out = append(out[:i], out[min(len(out), i+1+r.IntN(8)):]...)
		case 2:
			j := min(len(out), i+1+r.IntN(32))
			out = append(out[:j], append(bytes.Clone(out[i:j]), out[j:]...)...)
		default:
			tok := tokens[r.IntN(len(tokens))]
			out = append(out[:i], append([]byte(tok), out[i:]...)...)
		}
	}
	return out
}

// Random mutations of every fixture and of every hostile input are
// answered exactly as encoding/json answers them.
func TestFastDecodeMutations(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	seeds := [][]byte{}
	for _, data := range fixtures(t) {
		seeds = append(seeds, data)
	}
	small := []byte(mustJSON(t, validReport()))
	for range 5 {
		seeds = append(seeds, small) // small inputs: mutations hit the interesting parts more often
	}
	for _, h := range hostile {
		seeds = append(seeds, []byte(h))
	}
	n := 20000
	if testing.Short() {
		n = 2000
	}
	decided := 0
	for i := 0; i < n; i++ {
		data := mutate(r, seeds[r.IntN(len(seeds))])
		if checkSame(t, data) {
			decided++
		}
	}
	// Most mutations break the JSON or the report; enough must still be
	// decided by the fast decoder for this to have tested it.
	if decided < n/20 {
		t.Errorf("the fast decoder decided %d of %d mutated inputs: too few to compare", decided, n)
	}
	t.Logf("the fast decoder decided %d of %d mutated inputs", decided, n)
}

// FuzzFastDecode: on any input, decoding with the fast decoder answers
// exactly as encoding/json alone does.
func FuzzFastDecode(f *testing.F) {
	for _, data := range fixtures(f) {
		f.Add(data)
	}
	for _, h := range hostile {
		f.Add([]byte(h))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSame(t, data)
	})
}

// BenchmarkDecodeReport decodes a report as the load generator makes them
// (200 packages), as the collector does: with encoding/json alone, and
// with the fast decoder; JSON only, and the whole of wire.DecodeSized.
func BenchmarkDecodeReport(b *testing.B) {
	data := fixtures(b)[filepath.Join("..", "..", "..", "shared", "wire", "testdata", "loadgen-200.json")]
	for _, c := range []struct {
		name string
		f    func([]byte) (*wire.Report, error)
	}{
		{"json/std", stdUnmarshal},
		{"json/fast", func(d []byte) (*wire.Report, error) {
			r, ok := fastDecode(d)
			if !ok {
				return nil, errors.New("not decided")
			}
			return r, nil
		}},
		{"DecodeSized/std", func(d []byte) (*wire.Report, error) {
			r, _, err := wire.DecodeSized(bytes.NewReader(d), len(d), wire.DefaultLimits, decodeNow)
			return r, err
		}},
		{"DecodeSized/fast", func(d []byte) (*wire.Report, error) {
			r, _, err := wire.DecodeSizedWith(bytes.NewReader(d), len(d), wire.DefaultLimits, decodeNow, fastDecode)
			return r, err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.f(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFastDecodePresizedSoftware: a report that lists many packages is
// decoded into a list made ready for them (one list, not a list grown by
// doubling), and agrees with encoding/json; inputs where that guess meets
// no package, or is fooled, are still answered as encoding/json answers.
func TestFastDecodePresizedSoftware(t *testing.T) {
	pkgs := func(n int) []wire.Package {
		out := make([]wire.Package, n)
		for i := range out {
			out[i] = wire.Package{Name: fmt.Sprintf("lib%d", i), Version: "1.0-1", Arch: "amd64", Source: wire.SourceDpkg, Publisher: "Debian"}
		}
		return out
	}
	r := validReport()
	r.Inventory.Software = pkgs(200)
	data := []byte(mustJSON(t, r))
	if !checkSame(t, data) {
		t.Fatal("the fast decoder did not decide on a 200-package inventory")
	}
	rep, _ := fastDecode(data)
	if got := cap(rep.Inventory.Software); got != 200 {
		t.Errorf("software list capacity %d, want the 200 packages made ready", got)
	}
	list := mustJSON(t, pkgs(40))
	for _, in := range []string{
		// the packages are elsewhere: nothing decoded into the list
		`{"inventory":{"software":[]},"x":` + list + `}`,
		`{"inventory":{"software":[]},"software":` + list + `}`,
		`{"x":{"software":` + list + `}}`,
		`{"inventory":{"software":null},"x":` + list + `}`,
		`{"kind":"discovery","x":{"software":` + list + `}}`,
		// the list comes twice, or the inventory goes and comes back
		`{"inventory":{"software":` + list + `},"inventory":{"software":[{"version":"2"}]}}`,
		`{"inventory":{"software":` + list + `},"inventory":null}`,
		`{"inventory":null,"inventory":{"software":` + list + `}}`,
		`{"inventory":{"software":` + list + `},"inventory":{"software":[]}}`,
		`{"Inventory":{"SOFTWARE":` + list + `}}`,
		`{"inventory":{"software":` + list + `,"software":[{"name":"x"}]}}`,
	} {
		checkSame(t, []byte(in))
	}
}
