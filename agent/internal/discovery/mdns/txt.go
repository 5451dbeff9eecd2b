package mdns

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what TXT records may make us keep.
const (
	maxTXT       = 32
	maxTXTString = 255
)

// CleanText makes a string from the network safe to show and store: valid
// UTF-8 without control characters, at most n bytes, trimmed.
func CleanText(s string, n int) string {
	var b strings.Builder
	for len(s) > 0 && b.Len() < n {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch {
		case r == utf8.RuneError && size <= 1:
			r = '\uFFFD'
		case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r), r == '\u2028', r == '\u2029':
			r = ' '
		}
		if b.Len()+utf8.RuneLen(r) > n {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// CleanTXT cleans TXT strings (RFC 6763 §6: key=value, the key
// case-insensitive): at most maxTXT, each at most maxTXTString bytes,
// empty ones and repeated keys dropped (the first wins, §6.4).
func CleanTXT(txt []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range txt {
		if len(out) >= maxTXT {
			break
		}
		t = CleanText(t, maxTXTString)
		if t == "" {
			continue
		}
		k, _, _ := strings.Cut(t, "=")
		k = strings.ToLower(k)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, t)
	}
	return out
}

// TXTValue returns the value of key in txt.
func TXTValue(txt []string, key string) (string, bool) {
	for _, t := range txt {
		k, v, _ := strings.Cut(t, "=")
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}
