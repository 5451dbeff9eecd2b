// Package oui names the vendor of a MAC address from the IEEE registries
// (MA-L, MA-M, MA-S), embedded compressed. gen.go regenerates the table
// from Debian's ieee-data package.
package oui

//go:generate go run gen.go

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/umbrasec/umbra/shared/ident"
)

//go:embed oui.tsv.gz
var table []byte

var (
	once sync.Once
	// text is the decompressed table, "prefix\torganisation\n" lines;
	// lines holds the offsets of its lines, sorted by prefix. About 1.4 MB
	// in all, where a map of the same entries took several times that.
	text  []byte
	lines []uint32
)

func load() {
	zr, err := gzip.NewReader(bytes.NewReader(table))
	if err != nil {
		return
	}
	text, err = io.ReadAll(zr)
	if err != nil {
		text = nil
		return
	}
	lines = make([]uint32, 0, 48000)
	for off := 0; off < len(text); {
		end := bytes.IndexByte(text[off:], '\n')
		if end < 0 {
			end = len(text) - off
		}
		if bytes.IndexByte(text[off:off+end], '\t') > 0 {
			lines = append(lines, uint32(off))
		}
		off += end + 1
	}
	slices.SortStableFunc(lines, func(a, b uint32) int { return bytes.Compare(prefix(a), prefix(b)) })
}

// prefix and org read the line at off.
func prefix(off uint32) []byte {
	l := text[off:]
	return l[:bytes.IndexByte(l, '\t')]
}

func org(off uint32) string {
	l := text[off:]
	l = l[bytes.IndexByte(l, '\t')+1:]
	if nl := bytes.IndexByte(l, '\n'); nl >= 0 {
		l = l[:nl]
	}
	return string(l)
}

// Lookup returns the organisation the IEEE assigned mac's prefix to, and
// whether mac is locally administered (randomised or virtual: such a MAC
// has no vendor). The most specific assignment wins.
func Lookup(mac ident.MAC) (vendor string, local bool) {
	if mac.IsLocallyAdministered() {
		return "", true
	}
	once.Do(load)
	h := []byte(strings.ReplaceAll(mac.String(), ":", ""))
	for _, n := range []int{9, 7, 6} {
		i, ok := slices.BinarySearchFunc(lines, h[:n], func(off uint32, k []byte) int { return bytes.Compare(prefix(off), k) })
		if ok {
			return org(lines[i]), false
		}
	}
	return "", false
}

// Len returns the number of assignments in the table.
func Len() int {
	once.Do(load)
	return len(lines)
}
