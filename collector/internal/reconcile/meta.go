package reconcile

import (
	"encoding/hex"
	"math"
	"strings"
	"time"
)

// fkey is a finding id (FindingID: "f-" and 16 hex digits) as its 8 bytes.
// The live state keeps the meta of every stored finding, a million of them
// at scale, in a map of fixed-size keys and values without pointers, which
// the garbage collector does not scan.
type fkey [8]byte

// parseFID returns the key of a finding id, if it has FindingID's form.
func parseFID(id string) (k fkey, ok bool) {
	if len(id) != 2+2*len(k) || !strings.HasPrefix(id, "f-") {
		return k, false
	}
	// Only the lower-case form FindingID writes, so the key reads back as
	// the same id.
	for i := range k {
		hi, lo := hexDigit(id[2+2*i]), hexDigit(id[3+2*i])
		if hi < 0 || lo < 0 {
			return fkey{}, false
		}
		k[i] = byte(hi<<4 | lo)
	}
	return k, true
}

// hexDigit is the value of a lower-case hex digit, or -1.
func hexDigit(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

func (k fkey) String() string { return "f-" + hex.EncodeToString(k[:]) }

// findingMeta is what a run needs of a stored finding's latest state.
type findingMeta struct {
	open     bool     // its state is open
	shadow   bool     // an unregistered-device finding (the shadow report)
	other    bool     // about neither a device nor an asset (software, a rule)
	digest   [12]byte // Finding.Digest, decoded
	openedAt int64    // nanos()
	lastSeen int64
}

// newMeta is the meta of a finding of kind about subject in state.
func newMeta(kind, subject, digest, state string, openedAt, lastSeen time.Time) findingMeta {
	m := findingMeta{open: state == StateOpen, shadow: kind == KindUnregisteredDevice,
		other:    !strings.HasPrefix(subject, "device:") && !strings.HasPrefix(subject, "asset:"),
		openedAt: nanos(openedAt), lastSeen: nanos(lastSeen)}
	m.digest = digestBytes(digest)
	return m
}

// digestBytes decodes a digest; one that does not decode (a row written by
// an older version) is all zeros, which no digest equals.
func digestBytes(d string) (b [12]byte) {
	if len(d) != 2*len(b) {
		return b
	}
	if _, err := hex.Decode(b[:], []byte(d)); err != nil {
		return [12]byte{}
	}
	return b
}

// noTime stamps the zero time.
const noTime = math.MinInt64

// nanos is t in Unix nanoseconds (the findings' times are well within
// 1678–2262).
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == noTime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// metas holds findingMeta by finding id: in a map without pointers for the
// ids of FindingID's form (all that Umbra writes), in another for any
// other.
type metas struct {
	byKey map[fkey]findingMeta
	odd   map[string]findingMeta
}

func newMetas() metas {
	return metas{byKey: map[fkey]findingMeta{}, odd: map[string]findingMeta{}}
}

func (ms metas) get(id string) (findingMeta, bool) {
	if k, ok := parseFID(id); ok {
		m, found := ms.byKey[k]
		return m, found
	}
	m, found := ms.odd[id]
	return m, found
}

func (ms metas) set(id string, m findingMeta) {
	if k, ok := parseFID(id); ok {
		ms.byKey[k] = m
		return
	}
	ms.odd[id] = m
}

func (ms metas) len() int { return len(ms.byKey) + len(ms.odd) }

// openShadow is what the shadow index is built from: the open
// unregistered-device findings' last-seen times (Unix seconds, as the
// table keeps them) by key; ok is false if one has an id of another form.
func (ms metas) openShadow() (cur map[fkey]int64, ok bool) {
	cur = map[fkey]int64{}
	for k, m := range ms.byKey {
		if m.shadow && m.open {
			cur[k] = dbTime(fromNanos(m.lastSeen)).Unix()
		}
	}
	for _, m := range ms.odd {
		if m.shadow && m.open {
			return cur, false
		}
	}
	return cur, true
}

// each calls f with every finding's id and meta.
func (ms metas) each(f func(id string, m findingMeta)) {
	for k, m := range ms.byKey {
		f(k.String(), m)
	}
	for id, m := range ms.odd {
		f(id, m)
	}
}
