package api

import (
	"bytes"
	"unicode/utf8"

	fastjson "github.com/segmentio/encoding/json"
	"github.com/umbrasec/umbra/shared/wire"
)

// fastDecode is the wire.FastDecoder of report bodies: it decodes with
// github.com/segmentio/encoding/json, a reimplementation of encoding/json
// tested against its test suite and about four times faster on a report,
// with encoding/json as the judge:
//
//   - it only takes input on which the two are known to agree (see
//     fastPathSafe);
//   - whenever it finds anything wrong (a syntax error, a wrong type, data
//     after the report), it does not decide and wire decodes the report
//     again with encoding/json, whose answer, success or error, is the one
//     returned: every error a sender sees is encoding/json's, word for
//     word.
//
// A report it decides is therefore one encoding/json accepts too, decoded
// to the same value; decode_test.go checks that on the fixtures, on
// hostile inputs and on random mutations of them.
func fastDecode(data []byte) (*wire.Report, bool) {
	if !fastPathSafe(data) {
		return nil, false
	}
	rep := new(wire.Report)
	pre := presized(data)
	if pre != nil {
		rep.Inventory = pre
	}
	// DontCopyString: strings without escapes point into data, which is
	// the report's own buffer, instead of being copied one by one.
	rest, err := fastjson.Parse(data, rep, fastjson.DontCopyString)
	if err != nil || more(rest) {
		return nil, false
	}
	if pre != nil && rep.Inventory == pre && len(pre.Software) == 0 {
		// No package was decoded into the list made ready: whether
		// encoding/json would have left the inventory, or its list, nil
		// cannot be told here.
		return nil, false
	}
	return rep, true
}

// presized returns an inventory whose software list has room for the
// packages data seems to list, when it seems to list many; nil otherwise.
// The fast decoder grows a list from 10 by doubling, copying it each time
// into new memory (a 200-package list: 630 packages' worth, and new memory
// costs a page fault per 4 KiB); decoding into the room made ready costs
// one list. It is a guess that decides nothing: a package decoded into it
// is one encoding/json decodes too, and a report where none is decoded
// into it goes to encoding/json. The list has room for at most one package
// per 64 bytes of data (a package takes 160 bytes: at most 2.5 times the
// report's size, within the ingest queue's estimate of three).
func presized(data []byte) *wire.Inventory {
	if !bytes.Contains(data, []byte(`"software":[`)) {
		return nil
	}
	n := min(bytes.Count(data, []byte(`"source":`)), len(data)/64)
	if n < 32 {
		return nil
	}
	return &wire.Inventory{Software: make([]wire.Package, 0, n)}
}

// maxNesting is encoding/json's bound on nesting (its maxNestingDepth):
// deeper input is refused by encoding/json and would make the fast
// decoder, which recurses, use a deep stack.
const maxNesting = 10000

// fastPathSafe reports whether data is input on which the fast decoder
// and encoding/json are known to agree: one JSON object (a top-level
// scalar such as null ends differently in encoding/json's Decoder), valid
// UTF-8 (encoding/json replaces invalid bytes with U+FFFD), nested no
// deeper than encoding/json allows, with every string that may be read as
// a time written as the agent writes times (see plainTimes).
func fastPathSafe(data []byte) bool {
	i := skipSpace(data)
	if i == len(data) || data[i] != '{' {
		return false
	}
	if !utf8.Valid(data) || !plainTimes(data) {
		return false
	}
	// Nesting is at most the number of opening brackets, counted fast;
	// only when that is large is the real depth measured.
	if bytes.Count(data, []byte{'{'})+bytes.Count(data, []byte{'['}) <= maxNesting {
		return true
	}
	return depth(data) <= maxNesting
}

// plainTimes reports whether every string of data that the fast decoder
// might read as a time is in the one form the agent writes:
// 2006-01-02T15:04:05Z, with up to nine digits of fraction before the Z.
// The fast decoder reads times with a parser of its own, which takes some
// strings that encoding/json refuses (2026-11/28T01:00:00Z) and reads
// others through time.Parse, laxer than encoding/json; in that one form
// both read the same time. The strings it can take as a time are at least
// 20 bytes long (to the next quote: it reads no escapes) and start with
// four digits and a byte that may stand for '-' in its parser: any such
// string in another form, time or not, sends the report to encoding/json.
func plainTimes(data []byte) bool {
	for i := 0; ; {
		q := bytes.IndexByte(data[i:], '"')
		if q < 0 {
			return true
		}
		i += q + 1
		s := data[i:]
		if len(s) < 20 || !isDigit(s[0]) || !isDigit(s[1]) || !isDigit(s[2]) || !isDigit(s[3]) || s[4]&'-' != '-' {
			continue
		}
		if end := bytes.IndexByte(s, '"'); end >= 0 && end < 20 {
			continue // too short to be taken as a time
		}
		if !plainTime(s) {
			return false
		}
	}
}

// plainTime reports whether s starts with a time in the form plainTimes
// describes, and its closing quote.
func plainTime(s []byte) bool {
	const layout = "dddd-dd-ddTdd:dd:dd"
	if len(s) < len(layout)+2 {
		return false
	}
	for i := 0; i < len(layout); i++ {
		if layout[i] == 'd' && !isDigit(s[i]) || layout[i] != 'd' && s[i] != layout[i] {
			return false
		}
	}
	s = s[len(layout):]
	if s[0] == '.' {
		n := 1
		for n < len(s) && isDigit(s[n]) {
			n++
		}
		if n == 1 || n > 10 {
			return false
		}
		s = s[n:]
	}
	return len(s) >= 2 && s[0] == 'Z' && s[1] == '"'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// depth is the deepest nesting of arrays and objects in data, brackets
// inside strings not counted.
func depth(data []byte) int {
	d, deepest, inString := 0, 0, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			d++
			deepest = max(deepest, d)
		case '}', ']':
			d--
		}
	}
	return deepest
}

// more is encoding/json's Decoder.More on what follows a value: whether
// the next byte that is not white space opens another value.
func more(rest []byte) bool {
	i := skipSpace(rest)
	return i < len(rest) && rest[i] != ']' && rest[i] != '}'
}

// skipSpace returns the index of the first byte of data that is not JSON
// white space.
func skipSpace(data []byte) int {
	i := 0
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}
