// Package oui names the vendor of a MAC address from the IEEE registries
// (MA-L, MA-M, MA-S), embedded compressed. gen.go regenerates the table
// from Debian's ieee-data package.
package oui

//go:generate go run gen.go

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"strings"
	"sync"

	"github.com/umbrasec/umbra/shared/ident"
)

//go:embed oui.tsv.gz
var table []byte

var (
	once    sync.Once
	vendors map[string]string // lower-case hex prefix of 6, 7 or 9 digits → organisation
)

func load() {
	vendors = make(map[string]string, 40000)
	zr, err := gzip.NewReader(bytes.NewReader(table))
	if err != nil {
		return
	}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "\t")
		if ok {
			vendors[k] = v
		}
	}
}

// Lookup returns the organisation the IEEE assigned mac's prefix to, and
// whether mac is locally administered (randomised or virtual: such a MAC
// has no vendor). The most specific assignment wins.
func Lookup(mac ident.MAC) (vendor string, local bool) {
	if mac.IsLocallyAdministered() {
		return "", true
	}
	once.Do(load)
	h := strings.ReplaceAll(mac.String(), ":", "")
	for _, n := range []int{9, 7, 6} {
		if v, ok := vendors[h[:n]]; ok {
			return v, false
		}
	}
	return "", false
}

// Len returns the number of assignments in the table.
func Len() int {
	once.Do(load)
	return len(vendors)
}
