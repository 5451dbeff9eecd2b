//go:build ignore

// gen regenerates oui.tsv.gz from the IEEE registries as Debian's ieee-data
// package ships them (apt-get install ieee-data):
//
//	go run gen.go [/usr/share/ieee-data]
package main

import (
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	dir := "/usr/share/ieee-data"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	entries := map[string]string{}
	// MA-L (24-bit), MA-M (28-bit), MA-S (36-bit) assignments.
	for _, name := range []string{"oui.csv", "mam.csv", "oui36.csv"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			log.Fatal(err)
		}
		r := csv.NewReader(f)
		r.FieldsPerRecord = -1
		r.LazyQuotes = true
		for first := true; ; first = false {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				log.Fatalf("%s: %v", name, err)
			}
			if first || len(rec) < 3 {
				continue
			}
			prefix := strings.ToLower(strings.TrimSpace(rec[1]))
			org := strings.Join(strings.Fields(rec[2]), " ")
			if prefix == "" || org == "" || strings.EqualFold(org, "IEEE Registration Authority") {
				continue
			}
			entries[prefix] = org
		}
		f.Close()
	}
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out, err := os.Create("oui.tsv.gz")
	if err != nil {
		log.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(out, gzip.BestCompression)
	for _, k := range keys {
		fmt.Fprintf(zw, "%s\t%s\n", k, entries[k])
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := out.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("oui.tsv.gz: %d assignments\n", len(keys))
}
