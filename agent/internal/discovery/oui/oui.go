// Package oui names the vendor of a MAC address from the IEEE registries
// (MA-L, MA-M, MA-S), embedded compressed. gen.go regenerates the table
// from Debian's ieee-data package.
package oui

//go:generate go run gen.go

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/umbrasec/umbra/shared/ident"
)

//go:embed oui.tsv.gz
var table []byte

// The table is gzip members of a few hundred sorted "prefix\torganisation\n"
// lines each (gen.go), whose headers name their first prefix and their
// length. A lookup decompresses the one member that holds the prefix, so
// the 1.4 MB of text is never held in memory; answers are cached.
var (
	mu     sync.Mutex
	loaded bool
	blocks []block
	zr     *gzip.Reader
	text   []byte // the last block read
	cur    = -1   // which block text holds
	cache  = map[string]string{}
	count  int
)

type block struct {
	first string // the first prefix in the block
	off   int    // where its member starts in table
}

const maxCache = 4096

// load indexes the members of the table from their headers.
func load() {
	loaded = true
	for off := 0; off < len(table); {
		r := bytes.NewReader(table[off:])
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(r)
		} else {
			err = zr.Reset(r)
		}
		if err != nil {
			blocks = nil
			return
		}
		size, err := strconv.ParseUint(zr.Comment, 16, 32)
		if err != nil || size == 0 || zr.Name == "" {
			blocks = nil
			return
		}
		blocks = append(blocks, block{first: zr.Name, off: off})
		off += int(size)
	}
}

// read makes text hold block i.
func read(i int) bool {
	if cur == i {
		return true
	}
	cur = -1
	if err := zr.Reset(bytes.NewReader(table[blocks[i].off:])); err != nil {
		return false
	}
	zr.Multistream(false)
	buf := bytes.NewBuffer(text[:0])
	if _, err := buf.ReadFrom(zr); err != nil {
		return false
	}
	text, cur = buf.Bytes(), i
	return true
}

// find returns the organisation of exactly key, a lowercase hex prefix.
func find(key []byte) (string, bool) {
	i, found := slices.BinarySearchFunc(blocks, key, func(b block, k []byte) int { return strings.Compare(b.first, string(k)) })
	if !found {
		i--
	}
	if i < 0 || !read(i) {
		return "", false
	}
	for l := text; len(l) > 0; {
		line := l
		if nl := bytes.IndexByte(l, '\n'); nl >= 0 {
			line, l = l[:nl], l[nl+1:]
		} else {
			l = nil
		}
		p, org, ok := bytes.Cut(line, []byte{'\t'})
		if !ok {
			continue
		}
		switch bytes.Compare(p, key) {
		case 0:
			return string(org), true
		case 1:
			return "", false
		}
	}
	return "", false
}

// Lookup returns the organisation the IEEE assigned mac's prefix to, and
// whether mac is locally administered (randomised or virtual: such a MAC
// has no vendor). The most specific assignment wins.
func Lookup(mac ident.MAC) (vendor string, local bool) {
	if mac.IsLocallyAdministered() {
		return "", true
	}
	h := []byte(strings.ReplaceAll(mac.String(), ":", ""))
	mu.Lock()
	defer mu.Unlock()
	if !loaded {
		load()
	}
	if v, ok := cache[string(h[:9])]; ok {
		return v, false
	}
	for _, n := range []int{9, 7, 6} {
		if v, ok := find(h[:n]); ok {
			vendor = v
			break
		}
	}
	if len(cache) < maxCache {
		cache[string(h[:9])] = vendor
	}
	return vendor, false
}

// Len returns the number of assignments in the table.
func Len() int {
	mu.Lock()
	defer mu.Unlock()
	if !loaded {
		load()
	}
	if count == 0 {
		for i := range blocks {
			if read(i) {
				count += bytes.Count(text, []byte{'\n'})
			}
		}
	}
	return count
}
