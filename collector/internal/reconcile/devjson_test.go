package reconcile

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// TestDeviceJSONIsEncodingJSON: each identifier and piece of evidence of
// a device (a row of device_parts) comes out byte for byte as json.Marshal
// writes it, on random devices whose strings hold what must be escaped
// (quotes, control and HTML characters, invalid UTF-8, U+2028); a time it
// refuses is refused.
func TestDeviceJSONIsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	pieces := []string{"a", "mac:00:1b", " ", `"`, `\`, "<", ">", "&", "\x00", "\x1f", "\b", "\f", "\n", "\r", "\t", "\x7f",
		"é", "☃", "\u2028", "\u2029", "\xff", "\xe2\x80", "😀", "\xf0\x9f"}
	str := func() string {
		s := ""
		for range rng.IntN(6) {
			s += pieces[rng.IntN(len(pieces))]
		}
		return s
	}
	zones := []*time.Location{time.UTC, time.FixedZone("plus", 5*3600+30*60), time.FixedZone("lmt", 17*60+30)}
	at := func() time.Time {
		switch rng.IntN(10) {
		case 0:
			return time.Time{}
		case 1:
			return time.Date(10000+rng.IntN(5), 1, 1, 0, 0, 0, 0, time.UTC) // refused by MarshalJSON
		}
		return time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).In(zones[rng.IntN(len(zones))])
	}
	var buf []byte
	refused := 0
	for range 3000 {
		var d Device
		if rng.IntN(5) > 0 {
			d.Identifiers = []Identifier{}
			for range rng.IntN(4) {
				d.Identifiers = append(d.Identifiers, Identifier{ID: str(), FirstSeen: at(), LastSeen: at()})
			}
		}
		if rng.IntN(5) > 0 {
			d.Evidence = []Evidence{}
			for range rng.IntN(4) {
				e := Evidence{Outcome: str(), Method: str(), Observer: str(), Ref: str(), FirstSeen: at(), LastSeen: at(), Count: rng.IntN(1e6) - 10}
				if rng.IntN(4) > 0 {
					e.Tied = []string{}
					for range rng.IntN(3) {
						e.Tied = append(e.Tied, str())
					}
				}
				d.Evidence = append(d.Evidence, e)
			}
		}
		check := func(v any, enc func([]byte) ([]byte, bool)) {
			x, err := json.Marshal(v)
			var ok bool
			buf, ok = enc(buf[:0])
			if ok != (err == nil) || ok && string(buf) != string(x) {
				t.Fatalf("%+v encodes as %s, %v; want %s, %v", v, buf, ok, x, err)
			}
			refused += boolInt(!ok)
		}
		for i := range d.Identifiers {
			x := &d.Identifiers[i]
			check(x, func(b []byte) ([]byte, bool) { return identifierJSON(b, x) })
		}
		for i := range d.Evidence {
			e := &d.Evidence[i]
			check(e, func(b []byte) ([]byte, bool) { return evidenceJSON(b, e) })
		}
	}
	if refused == 0 {
		t.Error("no device had a time json.Marshal refuses: the fallback went untested")
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
