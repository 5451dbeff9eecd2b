//go:build ignore

// gen_pen regenerates pen.tsv.gz, the IANA Private Enterprise Numbers, from
// the copy Debian's libwireshark-data package ships (Wireshark generates it
// from https://www.iana.org/assignments/enterprise-numbers):
//
//	apt-get install libwireshark-data
//	go run gen_pen.go [/usr/share/wireshark/enterprises.tsv]
package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"
)

func main() {
	path := "/usr/share/wireshark/enterprises.tsv"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	names := map[int]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		n, err := strconv.Atoi(fields[0])
		if err != nil || n < 0 {
			continue
		}
		name := clean(strings.Join(fields[1:], " "))
		if name == "" || strings.EqualFold(name, "Reserved") || strings.EqualFold(name, "none") {
			continue
		}
		names[n] = name
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}
	keys := make([]int, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	out, err := os.Create("pen.tsv.gz")
	if err != nil {
		log.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(out, gzip.BestCompression)
	for _, k := range keys {
		fmt.Fprintf(zw, "%d\t%s\n", k, names[k])
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := out.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("pen.tsv.gz: %d enterprises\n", len(keys))
}

// clean drops what is not a name: a parenthesised URL or address, and
// control characters.
func clean(s string) string {
	if i := strings.Index(s, " ("); i > 0 && (strings.Contains(s[i:], "http") || strings.Contains(s[i:], "@")) {
		s = s[:i]
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}
