package identify

import (
	"strconv"
	"strings"
)

// enterprises is a hand-curated subset of the IANA Private Enterprise
// Numbers (https://www.iana.org/assignments/enterprise-numbers): the
// vendors whose devices answer SNMP on office networks. A sysObjectID
// 1.3.6.1.4.1.N… names its vendor by N.
var enterprises = map[int]string{
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
	return n, enterprises[n], true
}
