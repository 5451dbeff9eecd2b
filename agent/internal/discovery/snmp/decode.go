package snmp

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gosnmp/gosnmp"
	"github.com/umbrasec/umbra/shared/ident"
)

// Record is one variable binding as a device returned it, with the VLAN
// context it was read in (0: the default context).
type Record struct {
	VLAN int
	PDU  gosnmp.SnmpPDU
}

// Device is what one SNMP agent told about itself and its neighbours.
type Device struct {
	Addr netip.Addr
	// Credential describes the credential that worked, without secrets.
	Credential string
	System     System
	Interfaces []Interface
	ARP        []ARPEntry
	FDB        []FDBEntry
	LLDP       []Neighbor
	Entities   []Entity
	Host       *HostResources // nil when HOST-RESOURCES-MIB did not answer
	// Errors are the tables that could not be read completely (a walk that
	// hit its bound, a device returning non-increasing OIDs, a timeout).
	Errors []string
}

// System is the SNMPv2-MIB system group.
type System struct {
	Descr, ObjectID, Contact, Name, Location string
	UpTime                                   time.Duration
	Services                                 int
}

// Interface is one row of IF-MIB's ifTable and ifXTable.
type Interface struct {
	Index              int
	Name, Descr, Alias string
	Type               int
	MAC                string // normalised; "" when none
	SpeedMbps          int
	AdminUp, OperUp    bool
	IPs                []netip.Addr
}

// ARPEntry is one row of a router's ARP table (ipNetToMedia or
// ipNetToPhysical).
type ARPEntry struct {
	IfIndex int
	IP      netip.Addr
	MAC     string
	Type    int // 1 other, 2 invalid, 3 dynamic, 4 static, 5 local
}

// FDBEntry is one row of a switch's forwarding table: MAC sits behind
// bridge port BridgePort (interface IfIndex) in VLAN.
type FDBEntry struct {
	VLAN       int // 0 when the table is not per VLAN
	MAC        string
	BridgePort int
	IfIndex    int
	Status     int // 1 other, 2 invalid, 3 learned, 4 self, 5 mgmt
}

// Neighbor is one LLDP remote system.
type Neighbor struct {
	LocalPort        int
	LocalPortName    string
	ChassisIDSubtype int
	ChassisID        string
	PortIDSubtype    int
	PortID           string
	PortDescr        string
	SysName          string
	SysDescr         string
	Caps             []string
	MgmtAddrs        []netip.Addr
}

// Entity is one row of ENTITY-MIB's entPhysicalTable.
type Entity struct {
	Index, Class                          int // class 3 is a chassis
	Descr, Name                           string
	HardwareRev, FirmwareRev, SoftwareRev string
	Serial, Mfg, Model                    string
}

// HostResources is what HOST-RESOURCES-MIB told.
type HostResources struct {
	MemoryKB   int64
	Processors int
	CPU        string
}

// maxString bounds every string taken from a device.
const maxString = 512

// DisplayString turns bytes a device sent into a string that is safe to
// show and store: cut at the first NUL, at most maxString bytes of valid
// UTF-8 without control characters (a line break becomes a space),
// trimmed.
func DisplayString(b []byte) string {
	if i := slices.Index(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) > maxString {
		b = b[:maxString]
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		switch {
		case r == utf8.RuneError && n <= 1:
			sb.WriteRune('\uFFFD')
		case unicode.IsControl(r), r == '\u2028', r == '\u2029', unicode.Is(unicode.Bidi_Control, r):
			sb.WriteByte(' ')
		default:
			sb.WriteRune(r)
		}
	}
	s := strings.Join(strings.Fields(sb.String()), " ")
	for len(s) > maxString { // replacement runes can grow it
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}

// valueString decodes an OCTET STRING (or anything else) as text.
func valueString(p gosnmp.SnmpPDU) string {
	switch v := p.Value.(type) {
	case []byte:
		return DisplayString(v)
	case string:
		return DisplayString([]byte(v))
	case nil:
		return ""
	}
	return DisplayString([]byte(fmt.Sprint(p.Value)))
}

// valueInt decodes an integer of any SNMP type; ok is false for anything
// else or a value that does not fit an int64.
func valueInt(p gosnmp.SnmpPDU) (int64, bool) {
	switch v := p.Value.(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case uint:
		if uint64(v) <= math.MaxInt64 {
			return int64(v), true
		}
	case uint32:
		return int64(v), true
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), true
		}
	case *big.Int:
		if v != nil && v.IsInt64() {
			return v.Int64(), true
		}
	}
	return 0, false
}

func valueIntOr0(p gosnmp.SnmpPDU) int {
	n, ok := valueInt(p)
	if !ok || n > math.MaxInt32 || n < math.MinInt32 {
		return 0
	}
	return int(n)
}

// valueMAC decodes a 6-byte MAC address; "" for anything else or all
// zeroes. Some agents send the MAC as text; that is accepted too.
func valueMAC(p gosnmp.SnmpPDU) string {
	var b []byte
	switch v := p.Value.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return ""
	}
	if len(b) == 6 {
		var m ident.MAC
		copy(m[:], b)
		if m.IsZero() {
			return ""
		}
		return m.String()
	}
	if len(b) >= 12 && len(b) <= 17 {
		if m, err := ident.ParseMAC(string(b)); err == nil && !m.IsZero() {
			return m.String()
		}
	}
	return ""
}

// valueOID decodes an OBJECT IDENTIFIER without its leading dot.
func valueOID(p gosnmp.SnmpPDU) string {
	s, ok := p.Value.(string)
	if !ok || !validOID(strings.TrimPrefix(s, ".")) {
		return ""
	}
	return strings.TrimPrefix(s, ".")
}

func validOID(s string) bool {
	if s == "" || len(s) > 512 {
		return false
	}
	for _, f := range strings.Split(s, ".") {
		if _, err := strconv.ParseUint(f, 10, 32); err != nil {
			return false
		}
	}
	return true
}

// index returns the sub-identifiers of oid after prefix, or nil when oid
// is not under prefix.
func index(oid, prefix string) []int {
	oid = strings.TrimPrefix(oid, ".")
	if !strings.HasPrefix(oid, prefix+".") {
		return nil
	}
	rest := oid[len(prefix)+1:]
	if rest == "" || len(rest) > 1024 {
		return nil
	}
	parts := strings.Split(rest, ".")
	out := make([]int, len(parts))
	for i, s := range parts {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil
		}
		out[i] = int(n)
	}
	return out
}

func macFromIndex(ix []int) string {
	if len(ix) != 6 {
		return ""
	}
	var m ident.MAC
	for i, n := range ix {
		if n > 255 {
			return ""
		}
		m[i] = byte(n)
	}
	if m.IsZero() {
		return ""
	}
	return m.String()
}

func addrFromIndex(ix []int) (netip.Addr, bool) {
	if len(ix) != 4 && len(ix) != 16 {
		return netip.Addr{}, false
	}
	b := make([]byte, len(ix))
	for i, n := range ix {
		if n > 255 {
			return netip.Addr{}, false
		}
		b[i] = byte(n)
	}
	a, ok := netip.AddrFromSlice(b)
	return a.Unmap(), ok
}

// inetAddrFromIndex decodes an InetAddressType.InetAddress index pair
// (length-prefixed, not IMPLIED), returning the address and the rest.
func inetAddrFromIndex(ix []int) (netip.Addr, []int, bool) {
	if len(ix) < 2 {
		return netip.Addr{}, nil, false
	}
	typ, n := ix[0], ix[1]
	if (typ != 1 || n != 4) && (typ != 2 || n != 16) || len(ix) < 2+n {
		return netip.Addr{}, nil, false
	}
	a, ok := addrFromIndex(ix[2 : 2+n])
	return a, ix[2+n:], ok
}

var lldpCapNames = []string{"other", "repeater", "bridge", "wlan-access-point", "router", "telephone", "docsis-cable-device", "station-only"}

func lldpCaps(p gosnmp.SnmpPDU) []string {
	b, ok := p.Value.([]byte)
	if !ok || len(b) == 0 {
		return nil
	}
	var out []string
	for i, name := range lldpCapNames {
		if i/8 < len(b) && b[i/8]&(0x80>>(i%8)) != 0 {
			out = append(out, name)
		}
	}
	return out
}

// Decode builds a device from the records its agent returned, in any
// order. It trusts nothing: malformed rows are skipped.
func Decode(addr netip.Addr, recs []Record) *Device {
	d := &Device{Addr: addr}
	ifs := map[int]*Interface{}
	iface := func(i int) *Interface {
		if ifs[i] == nil {
			ifs[i] = &Interface{Index: i}
		}
		return ifs[i]
	}
	type arpKey struct {
		ifIndex int
		ip      netip.Addr
	}
	arp := map[arpKey]*ARPEntry{}
	arpRow := func(ifIndex int, ip netip.Addr) *ARPEntry {
		k := arpKey{ifIndex, ip}
		if arp[k] == nil {
			arp[k] = &ARPEntry{IfIndex: ifIndex, IP: ip}
		}
		return arp[k]
	}
	type fdbKey struct {
		vlan int
		mac  string
		q    bool
	}
	fdb := map[fdbKey]*FDBEntry{}
	fdbRow := func(k fdbKey) *FDBEntry {
		if fdb[k] == nil {
			fdb[k] = &FDBEntry{VLAN: k.vlan, MAC: k.mac}
		}
		return fdb[k]
	}
	basePort := map[[2]int]int{}   // (vlan, bridge port) → ifIndex
	fdbVLAN := map[int]int{}       // dot1qFdbId → VLAN
	lldp := map[[3]int]*Neighbor{} // (timeMark, localPort, remIndex)
	lldpRow := func(k [3]int) *Neighbor {
		if lldp[k] == nil {
			lldp[k] = &Neighbor{LocalPort: k[1]}
		}
		return lldp[k]
	}
	locPort := map[int][2]string{}
	ents := map[int]*Entity{}
	ent := func(i int) *Entity {
		if ents[i] == nil {
			ents[i] = &Entity{Index: i}
		}
		return ents[i]
	}
	var hr HostResources
	hrSeen := false
	hrTypes := map[int]string{}
	hrDescr := map[int]string{}

	for _, r := range recs {
		p := r.PDU
		switch p.Type {
		case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView, gosnmp.Null:
			continue
		}
		oid := strings.TrimPrefix(p.Name, ".")
		switch oid {
		case oidSysDescr:
			d.System.Descr = valueString(p)
			continue
		case oidSysObjectID:
			d.System.ObjectID = valueOID(p)
			continue
		case oidSysUpTime:
			if n, ok := valueInt(p); ok && n >= 0 {
				d.System.UpTime = time.Duration(n) * 10 * time.Millisecond
			}
			continue
		case oidSysContact:
			d.System.Contact = valueString(p)
			continue
		case oidSysName:
			d.System.Name = valueString(p)
			continue
		case oidSysLocation:
			d.System.Location = valueString(p)
			continue
		case oidSysServices:
			if n, ok := valueInt(p); ok && n >= 0 && n < 128 {
				d.System.Services = int(n)
			}
			continue
		}
		if ix := index(oid, oidIfDescr); len(ix) == 1 {
			iface(ix[0]).Descr = valueString(p)
		} else if ix := index(oid, oidIfType); len(ix) == 1 {
			iface(ix[0]).Type = valueIntOr0(p)
		} else if ix := index(oid, oidIfPhysAddr); len(ix) == 1 {
			iface(ix[0]).MAC = valueMAC(p)
		} else if ix := index(oid, oidIfAdmin); len(ix) == 1 {
			iface(ix[0]).AdminUp = valueIntOr0(p) == 1
		} else if ix := index(oid, oidIfOper); len(ix) == 1 {
			iface(ix[0]).OperUp = valueIntOr0(p) == 1
		} else if ix := index(oid, oidIfName); len(ix) == 1 {
			iface(ix[0]).Name = valueString(p)
		} else if ix := index(oid, oidIfHighSpeed); len(ix) == 1 {
			iface(ix[0]).SpeedMbps = valueIntOr0(p)
		} else if ix := index(oid, oidIfAlias); len(ix) == 1 {
			iface(ix[0]).Alias = valueString(p)
		} else if ix := index(oid, oidIPAdEntIfIdx); len(ix) == 4 {
			if a, ok := addrFromIndex(ix); ok {
				if i := valueIntOr0(p); i > 0 {
					iface(i).IPs = append(iface(i).IPs, a)
				}
			}
		} else if ix := index(oid, oidNetToMediaPhys); len(ix) == 5 {
			if a, ok := addrFromIndex(ix[1:]); ok {
				arpRow(ix[0], a).MAC = valueMAC(p)
			}
		} else if ix := index(oid, oidNetToMediaType); len(ix) == 5 {
			if a, ok := addrFromIndex(ix[1:]); ok {
				arpRow(ix[0], a).Type = valueIntOr0(p)
			}
		} else if ix := index(oid, oidNetToPhysPhys); len(ix) > 1 {
			if a, rest, ok := inetAddrFromIndex(ix[1:]); ok && len(rest) == 0 {
				arpRow(ix[0], a).MAC = valueMAC(p)
			}
		} else if ix := index(oid, oidNetToPhysType); len(ix) > 1 {
			if a, rest, ok := inetAddrFromIndex(ix[1:]); ok && len(rest) == 0 {
				arpRow(ix[0], a).Type = valueIntOr0(p)
			}
		} else if ix := index(oid, oidBasePortIfIndex); len(ix) == 1 {
			basePort[[2]int{r.VLAN, ix[0]}] = valueIntOr0(p)
		} else if ix := index(oid, oidTpFdbPort); len(ix) == 6 {
			if m := macFromIndex(ix); m != "" {
				fdbRow(fdbKey{r.VLAN, m, false}).BridgePort = valueIntOr0(p)
			}
		} else if ix := index(oid, oidTpFdbStatus); len(ix) == 6 {
			if m := macFromIndex(ix); m != "" {
				fdbRow(fdbKey{r.VLAN, m, false}).Status = valueIntOr0(p)
			}
		} else if ix := index(oid, oidQTpFdbPort); len(ix) == 7 {
			if m := macFromIndex(ix[1:]); m != "" {
				fdbRow(fdbKey{ix[0], m, true}).BridgePort = valueIntOr0(p)
			}
		} else if ix := index(oid, oidQTpFdbStatus); len(ix) == 7 {
			if m := macFromIndex(ix[1:]); m != "" {
				fdbRow(fdbKey{ix[0], m, true}).Status = valueIntOr0(p)
			}
		} else if ix := index(oid, oidQVlanFdbID); len(ix) == 2 {
			fdbVLAN[valueIntOr0(p)] = ix[1]
		} else if ix := index(oid, oidLldpRem); len(ix) == 4 {
			n := lldpRow([3]int{ix[1], ix[2], ix[3]})
			switch ix[0] {
			case 4:
				n.ChassisIDSubtype = valueIntOr0(p)
			case 5:
				n.ChassisID = lldpID(p, n.ChassisIDSubtype == 4)
			case 6:
				n.PortIDSubtype = valueIntOr0(p)
			case 7:
				n.PortID = lldpID(p, n.PortIDSubtype == 3)
			case 8:
				n.PortDescr = valueString(p)
			case 9:
				n.SysName = valueString(p)
			case 10:
				n.SysDescr = valueString(p)
			case 12:
				n.Caps = lldpCaps(p)
			}
		} else if ix := index(oid, oidLldpRemManAddr); len(ix) > 3 {
			if a, _, ok := inetAddrFromIndex(ix[3:]); ok {
				n := lldpRow([3]int{ix[0], ix[1], ix[2]})
				if !slices.Contains(n.MgmtAddrs, a) && len(n.MgmtAddrs) < 8 {
					n.MgmtAddrs = append(n.MgmtAddrs, a)
				}
			}
		} else if ix := index(oid, oidLldpLocPortID); len(ix) == 1 {
			lp := locPort[ix[0]]
			lp[0] = valueString(p)
			locPort[ix[0]] = lp
		} else if ix := index(oid, oidLldpLocPortDsc); len(ix) == 1 {
			lp := locPort[ix[0]]
			lp[1] = valueString(p)
			locPort[ix[0]] = lp
		} else if ix := index(oid, "1.3.6.1.2.1.47.1.1.1.1"); len(ix) == 2 {
			e := ent(ix[1])
			switch ix[0] {
			case 2:
				e.Descr = valueString(p)
			case 5:
				e.Class = valueIntOr0(p)
			case 7:
				e.Name = valueString(p)
			case 8:
				e.HardwareRev = valueString(p)
			case 9:
				e.FirmwareRev = valueString(p)
			case 10:
				e.SoftwareRev = valueString(p)
			case 11:
				e.Serial = valueString(p)
			case 12:
				e.Mfg = valueString(p)
			case 13:
				e.Model = valueString(p)
			}
		} else if oid == oidHrMemorySize+".0" {
			if n, ok := valueInt(p); ok && n >= 0 {
				hr.MemoryKB, hrSeen = n, true
			}
		} else if ix := index(oid, oidHrDeviceType); len(ix) == 1 {
			hrTypes[ix[0]] = valueOID(p)
			hrSeen = true
		} else if ix := index(oid, oidHrDeviceDescr); len(ix) == 1 {
			hrDescr[ix[0]] = valueString(p)
		}
	}

	for _, i := range sortedKeys(ifs) {
		f := ifs[i]
		slices.SortFunc(f.IPs, netip.Addr.Compare)
		d.Interfaces = append(d.Interfaces, *f)
	}
	for _, e := range arp {
		if e.MAC == "" || !e.IP.IsValid() {
			continue
		}
		d.ARP = append(d.ARP, *e)
	}
	slices.SortFunc(d.ARP, func(a, b ARPEntry) int {
		return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.IfIndex, b.IfIndex))
	})
	// Rows of the default context's dot1dTpFdbTable that a per-VLAN row
	// repeats add nothing.
	for k, e := range fdb {
		if k.q {
			if v, ok := fdbVLAN[k.vlan]; ok {
				e.VLAN = v
			}
			e.IfIndex = basePort[[2]int{0, e.BridgePort}]
		} else {
			e.IfIndex = basePort[[2]int{k.vlan, e.BridgePort}]
			if e.IfIndex == 0 {
				e.IfIndex = basePort[[2]int{0, e.BridgePort}]
			}
		}
	}
	seenFDB := map[[2]string]bool{}
	seenMAC := map[string]bool{}
	for _, k := range sortedFDBKeys(fdb, func(k fdbKey) (bool, int, string) { return k.q, k.vlan, k.mac }) {
		e := fdb[k]
		if k.vlan == 0 && !k.q && seenMAC[e.MAC] {
			continue
		}
		key := [2]string{strconv.Itoa(e.VLAN), e.MAC}
		if seenFDB[key] {
			continue
		}
		seenFDB[key], seenMAC[e.MAC] = true, true
		d.FDB = append(d.FDB, *e)
	}
	slices.SortFunc(d.FDB, func(a, b FDBEntry) int {
		return cmp.Or(cmp.Compare(a.VLAN, b.VLAN), cmp.Compare(a.MAC, b.MAC))
	})
	for _, k := range sortedKeys3(lldp) {
		n := lldp[k]
		lp := locPort[n.LocalPort]
		n.LocalPortName = cmp.Or(lp[1], lp[0])
		d.LLDP = append(d.LLDP, *n)
	}
	for _, i := range sortedKeys(ents) {
		d.Entities = append(d.Entities, *ents[i])
	}
	if hrSeen {
		for _, i := range sortedKeys(hrTypes) {
			if hrTypes[i] == oidHrProcessor {
				hr.Processors++
				if hr.CPU == "" {
					hr.CPU = hrDescr[i]
				}
			}
		}
		d.Host = &hr
	}
	return d
}

// lldpID decodes a chassis or port ID: a MAC when the subtype says so,
// text otherwise.
func lldpID(p gosnmp.SnmpPDU, isMAC bool) string {
	if isMAC {
		if m := valueMAC(p); m != "" {
			return m
		}
	}
	return valueString(p)
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedKeys3[V any](m map[[3]int]V) [][3]int {
	keys := make([][3]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [3]int) int {
		return cmp.Or(cmp.Compare(a[1], b[1]), cmp.Compare(a[2], b[2]), cmp.Compare(a[0], b[0]))
	})
	return keys
}

// sortedFDBKeys orders per-VLAN and Q-BRIDGE rows before the default
// context's, so that the more precise row wins the deduplication.
func sortedFDBKeys[K comparable, V any](m map[K]V, parts func(K) (bool, int, string)) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b K) int {
		qa, va, ma := parts(a)
		qb, vb, mb := parts(b)
		pa, pb := 0, 0
		if !qa && va == 0 {
			pa = 1
		}
		if !qb && vb == 0 {
			pb = 1
		}
		if pa != pb {
			return cmp.Compare(pa, pb)
		}
		if qa != qb {
			if qa {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(va, vb), cmp.Compare(ma, mb))
	})
	return keys
}
