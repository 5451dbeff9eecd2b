// Package identify decides what kind of device a host is — router, switch,
// access point, printer, phone, camera, server, workstation, IoT, media —
// from the evidence discovery gathered, and says which evidence decided.
// It also names hosts: reverse DNS and the NetBIOS node status query.
package identify

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/umbrasec/umbra/shared/wire"
)

// Evidence is what is known about one host.
type Evidence struct {
	SysObjectID string
	SysDescr    string
	// SysServices is the sysServices bit set (RFC 3418); 0 when unknown.
	SysServices int
	// HostResources is true when the host answered HOST-RESOURCES-MIB, as
	// general-purpose operating systems do.
	HostResources bool
	// LLDPCaps are the enabled system capabilities an LLDP neighbour
	// advertised (bridge, router, wlan-access-point, telephone, …).
	LLDPCaps     []string
	OpenPorts    []int
	MDNSServices []string // service types: _ipp._tcp, …
	MACVendor    string   // the OUI's organisation
	MACLocal     bool     // a locally administered (randomised) MAC
}

// Verdict is the decision.
type Verdict struct {
	Kind string // one of the wire.Kind… constants
	// Vendor comes from the sysObjectID's enterprise number, or else the
	// MAC's OUI.
	Vendor string
	// Reason is the evidence that decided Kind.
	Reason string
	// Hints are every kind the evidence pointed to, strongest first, each
	// with its reasons.
	Hints []wire.KindHint
}

// Evidence weights: a device describing itself beats a service it
// announces, which beats a port it opens, which beats who made its MAC.
const (
	wSysDescr = 80
	wSysOID   = 60
	wMDNS     = 70
	wServices = 50
	wLLDP     = 50
	wHR       = 25
	wPorts    = 30
	wOUI      = 20
	wLocalMAC = 10
	threshold = 15 // below this, the kind is unknown
)

type pattern struct {
	re   *regexp.Regexp
	kind string
}

// sysDescrPatterns are checked in order; every match counts.
var sysDescrPatterns = []pattern{
	{regexp.MustCompile(`(?i)jetdirect|laserjet|officejet|deskjet|designjet|printer|xerox|lexmark|brother nc-|ricoh|kyocera|canon ir|\bepson\b|bizhub|sharp mx-`), wire.KindPrinter},
	{regexp.MustCompile(`(?i)aironet|\bair-?ap|access point|unifi ap|\buap\b|arubaos.*\bap\b|\bwap\d|ruckus.*(zoneflex|unleashed)`), wire.KindAccessPoint},
	{regexp.MustCompile(`(?i)catalyst|\bc(2960|3560|3650|3750|3850|9200|9300|9500)|nexus|\bswitch\b|procurve|aruba\s*\d{4}|\bex\d{4}|powerconnect|netgear.*\bgs\d|\bsg\d{3}|edgeswitch|\bcrs\d`), wire.KindSwitch},
	{regexp.MustCompile(`(?i)\bc(8\d\d|19[0-4]\d|29[0-5]\d|39[0-4]\d|1100|1111)\b|\bisr\d*|\basr\d*|\brouter\b|routeros|\bjunos\b.*\b(mx|srx|j)\d|edgeos|vyos|fortigate|pan-os|adaptive security appliance|\bpfsense|opnsense`), wire.KindRouter},
	{regexp.MustCompile(`(?i)ip phone|polycom|yealink|\bsip-t\d|snom|grandstream|cisco cp-`), wire.KindPhone},
	{regexp.MustCompile(`(?i)hikvision|\bds-2cd|network camera|ip camera|\bipc\b|axis .*camera|dahua|\bnvr\b`), wire.KindCamera},
	{regexp.MustCompile(`(?i)windows server|\bserver\b|vmware esxi|freebsd|solaris|\baix\b`), wire.KindServer},
	{regexp.MustCompile(`(?i)software: windows version (6\.[0-3]|10\.0)\b.*(workstation|free)|darwin|macos`), wire.KindWorkstation},
}

// linuxDescr marks a general-purpose Linux, which with SNMP is most often
// a server.
var linuxDescr = regexp.MustCompile(`(?i)^linux\b`)

// enterpriseKinds are vendors whose SNMP agents are nearly always one kind
// of device.
var enterpriseKinds = map[int]string{
	253: wire.KindPrinter, 367: wire.KindPrinter, 641: wire.KindPrinter, 1248: wire.KindPrinter,
	1347: wire.KindPrinter, 1602: wire.KindPrinter, 2385: wire.KindPrinter, 2435: wire.KindPrinter,
	18334: wire.KindPrinter,
	368:   wire.KindCamera, 39165: wire.KindCamera,
	14988: wire.KindRouter, 2636: wire.KindRouter, 12356: wire.KindRouter, 25461: wire.KindRouter,
	2620: wire.KindRouter, 8741: wire.KindRouter,
	14823: wire.KindAccessPoint, 25053: wire.KindAccessPoint, 14179: wire.KindAccessPoint,
	30065: wire.KindSwitch, 1916: wire.KindSwitch,
}

var mdnsKinds = map[string]string{
	"_ipp._tcp": wire.KindPrinter, "_ipps._tcp": wire.KindPrinter, "_printer._tcp": wire.KindPrinter,
	"_pdl-datastream._tcp": wire.KindPrinter, "_scanner._tcp": wire.KindPrinter, "_uscan._tcp": wire.KindPrinter,
	"_googlecast._tcp": wire.KindMedia, "_airplay._tcp": wire.KindMedia, "_raop._tcp": wire.KindMedia,
	"_spotify-connect._tcp": wire.KindMedia, "_sonos._tcp": wire.KindMedia,
	"_hap._tcp": wire.KindIoT, "_homekit._tcp": wire.KindIoT, "_matter._tcp": wire.KindIoT, "_hue._tcp": wire.KindIoT,
	"_esphomelib._tcp": wire.KindIoT, "_shelly._tcp": wire.KindIoT,
	"_rtsp._tcp": wire.KindCamera, "_axis-video._tcp": wire.KindCamera,
	"_apple-mobdev2._tcp": wire.KindPhone,
	"_workstation._tcp":   wire.KindWorkstation, "_rfb._tcp": wire.KindWorkstation, "_smb._tcp": wire.KindWorkstation,
	"_ssh._tcp": wire.KindServer, "_sftp-ssh._tcp": wire.KindServer,
}

var portKinds = []struct {
	port int
	kind string
	w    int
}{
	{9100, wire.KindPrinter, wPorts}, {631, wire.KindPrinter, wPorts}, {515, wire.KindPrinter, wPorts},
	{554, wire.KindCamera, wPorts},
	{8009, wire.KindMedia, wPorts}, {8008, wire.KindMedia, wPorts / 2},
	{3389, wire.KindWorkstation, wPorts * 2 / 3},
	{135, wire.KindWorkstation, wPorts / 3}, {445, wire.KindWorkstation, wPorts / 3},
	{22, wire.KindServer, wPorts / 2},
	{5060, wire.KindPhone, wPorts},
	{1883, wire.KindIoT, wPorts * 2 / 3},
}

var ouiKinds = []struct {
	substr string
	kind   string
}{
	{"hikvision", wire.KindCamera}, {"axis communications", wire.KindCamera}, {"dahua", wire.KindCamera},
	{"brother", wire.KindPrinter}, {"canon", wire.KindPrinter}, {"seiko epson", wire.KindPrinter},
	{"lexmark", wire.KindPrinter}, {"xerox", wire.KindPrinter}, {"kyocera", wire.KindPrinter}, {"ricoh", wire.KindPrinter},
	{"polycom", wire.KindPhone}, {"yealink", wire.KindPhone}, {"snom", wire.KindPhone}, {"grandstream", wire.KindPhone},
	{"espressif", wire.KindIoT}, {"tuya", wire.KindIoT}, {"shelly", wire.KindIoT}, {"signify", wire.KindIoT},
	{"philips lighting", wire.KindIoT}, {"raspberry pi", wire.KindIoT},
	{"sonos", wire.KindMedia}, {"roku", wire.KindMedia},
	{"ubiquiti", wire.KindAccessPoint}, {"ruckus", wire.KindAccessPoint},
	{"vmware", wire.KindServer}, {"supermicro", wire.KindServer}, {"super micro", wire.KindServer},
}

var lldpKinds = map[string]string{
	"router": wire.KindRouter, "bridge": wire.KindSwitch, "wlan-access-point": wire.KindAccessPoint,
	"telephone": wire.KindPhone, "station-only": wire.KindWorkstation, "docsis-cable-device": wire.KindRouter,
}

type score struct {
	kind    string
	total   int
	best    int
	reasons []string // strongest first once sorted
	bestWhy string
}

type tally map[string]*score

func (t tally) add(kind string, w int, why string) {
	s := t[kind]
	if s == nil {
		s = &score{kind: kind}
		t[kind] = s
	}
	s.total += w
	s.reasons = append(s.reasons, why)
	if w > s.best {
		s.best, s.bestWhy = w, why
	}
}

// Classify decides a kind from e.
func Classify(e Evidence) Verdict {
	t := tally{}
	var v Verdict
	descr := excerpt(e.SysDescr, 80)
	if e.SysDescr != "" {
		for _, p := range sysDescrPatterns {
			if m := p.re.FindString(e.SysDescr); m != "" {
				t.add(p.kind, wSysDescr, fmt.Sprintf("sysDescr %q matches %q", descr, m))
			}
		}
		if linuxDescr.MatchString(e.SysDescr) {
			t.add(wire.KindServer, wSysDescr/2, fmt.Sprintf("sysDescr %q is a general-purpose Linux", descr))
		}
	}
	if n, vendor, ok := Enterprise(e.SysObjectID); ok {
		v.Vendor = vendor
		if k, ok := enterpriseKinds[n]; ok {
			t.add(k, wSysOID, fmt.Sprintf("sysObjectID %s: enterprise %d (%s) makes %ss", e.SysObjectID, n, vendor, k))
		}
	}
	if s := e.SysServices; s > 0 && s < 128 {
		switch {
		case s&4 != 0 && s&2 != 0 && e.SysDescr != "" && !linuxDescr.MatchString(e.SysDescr):
			t.add(wire.KindRouter, wServices, fmt.Sprintf("sysServices %d: forwards at layers 2 and 3", s))
		case s&4 != 0 && !linuxDescr.MatchString(e.SysDescr):
			t.add(wire.KindRouter, wServices, fmt.Sprintf("sysServices %d: forwards at layer 3 (internet)", s))
		case s&2 != 0 && s&4 == 0:
			t.add(wire.KindSwitch, wServices, fmt.Sprintf("sysServices %d: forwards at layer 2 (datalink) only", s))
		}
	}
	for _, c := range e.LLDPCaps {
		if k, ok := lldpKinds[c]; ok {
			t.add(k, wLLDP, fmt.Sprintf("LLDP capability %s", c))
		}
	}
	if e.HostResources {
		t.add(wire.KindServer, wHR, "answers HOST-RESOURCES-MIB (a general-purpose OS)")
	}
	seen := map[string]bool{}
	for _, svc := range e.MDNSServices {
		svc = strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(svc, "."), ".local"))
		if k, ok := mdnsKinds[svc]; ok && !seen[svc] {
			seen[svc] = true
			t.add(k, wMDNS, fmt.Sprintf("announces %s over mDNS", svc))
		}
	}
	for _, pk := range portKinds {
		if slices.Contains(e.OpenPorts, pk.port) {
			t.add(pk.kind, pk.w, fmt.Sprintf("TCP port %d is open", pk.port))
		}
	}
	if e.MACVendor != "" {
		lv := strings.ToLower(e.MACVendor)
		for _, ok := range ouiKinds {
			if strings.Contains(lv, ok.substr) {
				t.add(ok.kind, wOUI, fmt.Sprintf("MAC vendor %s", excerpt(e.MACVendor, 60)))
				break
			}
		}
		if v.Vendor == "" {
			v.Vendor = e.MACVendor
		}
	}
	if e.MACLocal {
		t.add(wire.KindWorkstation, wLocalMAC, "randomised (locally administered) MAC, as phones and laptops use")
	}

	scores := make([]*score, 0, len(t))
	for _, s := range t {
		scores = append(scores, s)
	}
	sort.Slice(scores, func(i, j int) bool {
		if scores[i].total != scores[j].total {
			return scores[i].total > scores[j].total
		}
		if scores[i].best != scores[j].best {
			return scores[i].best > scores[j].best
		}
		return scores[i].kind < scores[j].kind
	})
	for _, s := range scores {
		v.Hints = append(v.Hints, wire.KindHint{Kind: s.kind, Reason: strings.Join(s.reasons, "; ")})
	}
	if len(scores) == 0 || scores[0].total < threshold {
		v.Kind, v.Reason = wire.KindUnknown, "no decisive evidence"
		return v
	}
	v.Kind, v.Reason = scores[0].kind, scores[0].bestWhy
	return v
}

// excerpt shortens s to at most n bytes on a rune boundary.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
