package reconcile

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// The JSON of a device's identifiers and evidence, as encoding/json writes
// it, without its reflection: a run writes the parts of the devices it
// changed (device_parts), and encoding them was a tenth of its work.

// appendJSONArray appends json.Marshal(xs) for xs whose elements elem
// appends: null for a nil slice.
func appendJSONArray[T any](b []byte, xs []T, elem func([]byte, *T) []byte) []byte {
	if xs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, &xs[i])
	}
	return append(b, ']')
}

// appendIdentifierJSON appends json.Marshal(x).
func appendIdentifierJSON(b []byte, x *Identifier) []byte {
	b = appendJSONString(append(b, `{"id":`...), x.ID)
	b = appendJSONTime(append(b, `,"first_seen":`...), x.FirstSeen)
	b = appendJSONTime(append(b, `,"last_seen":`...), x.LastSeen)
	return append(b, '}')
}

// appendEvidenceItemJSON appends json.Marshal(e).
func appendEvidenceItemJSON(b []byte, e *Evidence) []byte {
	b = appendJSONArray(append(b, `{"tied":`...), e.Tied, func(b []byte, s *string) []byte { return appendJSONString(b, *s) })
	b = appendJSONString(append(b, `,"outcome":`...), e.Outcome)
	b = appendJSONString(append(b, `,"method":`...), e.Method)
	b = appendJSONString(append(b, `,"observer":`...), e.Observer)
	b = appendJSONString(append(b, `,"ref":`...), e.Ref)
	b = appendJSONTime(append(b, `,"first_seen":`...), e.FirstSeen)
	b = appendJSONTime(append(b, `,"last_seen":`...), e.LastSeen)
	b = strconv.AppendInt(append(b, `,"count":`...), int64(e.Count), 10)
	return append(b, '}')
}

// jsonTimeOK reports whether t encodes as appendJSONTime writes it:
// time.Time.MarshalJSON refuses years outside [0, 9999] and zone offsets
// with seconds.
func jsonTimeOK(t time.Time) bool {
	_, off := t.Zone()
	return t.Year() >= 0 && t.Year() <= 9999 && off%60 == 0
}

func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	return append(t.AppendFormat(b, time.RFC3339Nano), '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes it (HTML
// characters escaped, invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029
// escaped).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}

// identifierJSON appends json.Marshal(x) to buf; ok is false when
// encoding/json refuses x (a time it cannot write).
func identifierJSON(buf []byte, x *Identifier) (_ []byte, ok bool) {
	if !jsonTimeOK(x.FirstSeen) || !jsonTimeOK(x.LastSeen) {
		return marshalInto(buf, x)
	}
	return appendIdentifierJSON(buf, x), true
}

// evidenceJSON appends json.Marshal(e) to buf; ok is false when
// encoding/json refuses e (a time it cannot write).
func evidenceJSON(buf []byte, e *Evidence) (_ []byte, ok bool) {
	if !jsonTimeOK(e.FirstSeen) || !jsonTimeOK(e.LastSeen) {
		return marshalInto(buf, e)
	}
	return appendEvidenceItemJSON(buf, e), true
}

// marshalInto appends json.Marshal(v) to buf, for what the appenders above
// do not write as encoding/json does (a time it refuses, or one whose zone
// offset has seconds).
func marshalInto(buf []byte, v any) ([]byte, bool) {
	b, err := json.Marshal(v)
	if err != nil {
		return buf, false
	}
	return append(buf, b...), true
}
