//go:build ignore

// gen regenerates oui.tsv.gz from the IEEE registries as Debian's ieee-data
// package ships them (apt-get install ieee-data):
//
//	go run gen.go [/usr/share/ieee-data]
package main

import (
	"bytes"
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

// blockLines is the number of lines in one gzip member.
const blockLines = 256

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
	// Blocks of blockLines lines, each its own gzip member whose header
	// names its first prefix (Name) and its own length in bytes (Comment,
	// 8 hex digits): oui.go finds a block without decompressing the
	// others. The file is still one gzip stream to zcat.
	var out bytes.Buffer
	for i := 0; i < len(keys); i += blockLines {
		var block bytes.Buffer
		for _, k := range keys[i:min(i+blockLines, len(keys))] {
			fmt.Fprintf(&block, "%s\t%s\n", k, entries[k])
		}
		member := func(size int) []byte {
			var b bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
			zw.Name, zw.Comment = keys[i], fmt.Sprintf("%08x", size)
			zw.Write(block.Bytes())
			if err := zw.Close(); err != nil {
				log.Fatal(err)
			}
			return b.Bytes()
		}
		out.Write(member(len(member(0))))
	}
	if err := os.WriteFile("oui.tsv.gz", out.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("oui.tsv.gz: %d assignments\n", len(keys))
}
