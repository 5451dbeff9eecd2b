package identify

//go:generate go run gen_pen.go

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"strconv"
	"strings"
	"sync"
)

// pen.tsv.gz holds every IANA Private Enterprise Number with its
// registrant, "N\tname\n" lines sorted by N; gen_pen.go regenerates it
// from the copy Debian's libwireshark-data package ships.
//
//go:embed pen.tsv.gz
var penTable []byte

// Lookups are rare — once per SNMP device, and an office holds few distinct
// vendors — so the 1.7 MB table is not kept in memory: a lookup that
// misses the cache reads the compressed table up to its number (a few
// milliseconds) and remembers the answer.
var (
	penMu    sync.Mutex
	penCache = map[int]string{}
)

// eachPEN calls fn with every entry of the table in number order until fn
// returns false; name is valid only during the call.
func eachPEN(fn func(n int, name []byte) bool) error {
	zr, err := gzip.NewReader(bytes.NewReader(penTable))
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		line := sc.Bytes()
		tab := bytes.IndexByte(line, '\t')
		if tab <= 0 || tab > 10 {
			continue
		}
		n := 0
		for _, c := range line[:tab] {
			if c < '0' || c > '9' {
				n = -1
				break
			}
			n = n*10 + int(c-'0')
		}
		if n < 0 {
			continue
		}
		if !fn(n, line[tab+1:]) {
			return nil
		}
	}
	return sc.Err()
}

// registrant returns the name IANA registered enterprise number n under.
func registrant(n int) string {
	penMu.Lock()
	defer penMu.Unlock()
	if name, ok := penCache[n]; ok {
		return name
	}
	name := ""
	_ = eachPEN(func(num int, nm []byte) bool {
		if num == n {
			name = string(nm)
		}
		return num < n
	})
	if len(penCache) < 4096 {
		penCache[n] = name
	}
	return name
}

// PENs returns how many enterprise numbers the embedded table names.
func PENs() int {
	count := 0
	_ = eachPEN(func(int, []byte) bool { count++; return true })
	return count
}

// shortNames are the names people use for the vendors whose devices most
// often answer SNMP on office networks, where IANA's registrant name is a
// legal or historic one ("ciscoSystems", "Apple Computer, Inc."). They
// win over the table; every other number is named by the table.
var shortNames = map[int]string{
	2:     "IBM",
	9:     "Cisco",
	11:    "HP",
	42:    "Sun Microsystems",
	43:    "3Com",
	63:    "Apple",
	171:   "D-Link",
	207:   "Allied Telesis",
	232:   "Compaq",
	236:   "Samsung",
	253:   "Xerox",
	311:   "Microsoft",
	318:   "APC",
	367:   "Ricoh",
	368:   "Axis Communications",
	641:   "Lexmark",
	664:   "Adtran",
	674:   "Dell",
	789:   "NetApp",
	890:   "ZyXEL",
	1248:  "Epson",
	1347:  "Kyocera",
	1588:  "Brocade",
	1602:  "Canon",
	1916:  "Extreme Networks",
	1991:  "Foundry Networks",
	2011:  "Huawei",
	2385:  "Sharp",
	2435:  "Brother",
	2620:  "Check Point",
	2636:  "Juniper Networks",
	3076:  "Cisco",
	3224:  "Juniper Networks",
	3375:  "F5 Networks",
	3955:  "Linksys",
	4413:  "Broadcom",
	4526:  "Netgear",
	5624:  "Enterasys",
	6027:  "Force10",
	6486:  "Alcatel-Lucent",
	6527:  "Nokia",
	6876:  "VMware",
	6889:  "Avaya",
	8072:  "Net-SNMP",
	8741:  "SonicWall",
	11863: "TP-Link",
	12356: "Fortinet",
	14179: "Cisco",
	14823: "Aruba",
	14988: "MikroTik",
	18334: "Konica Minolta",
	22610: "A10 Networks",
	25053: "Ruckus",
	25461: "Palo Alto Networks",
	25506: "H3C",
	30065: "Arista",
	39165: "Hikvision",
	41112: "Ubiquiti",
}

const enterprisePrefix = "1.3.6.1.4.1."

// Enterprise returns the IANA enterprise number in a sysObjectID
// (1.3.6.1.4.1.N…) and the vendor it names, when known.
func Enterprise(sysObjectID string) (number int, vendor string, ok bool) {
	s := strings.TrimPrefix(sysObjectID, ".")
	if !strings.HasPrefix(s, enterprisePrefix) {
		return 0, "", false
	}
	s = s[len(enterprisePrefix):]
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, "", false
	}
	if name, ok := shortNames[n]; ok {
		return n, name, true
	}
	return n, registrant(n), true
}
