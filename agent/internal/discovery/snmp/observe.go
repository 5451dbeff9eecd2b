package snmp

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/identify"
	"github.com/umbrasec/umbra/shared/ident"
	"github.com/umbrasec/umbra/shared/wire"
)

// VendorFunc names the vendor of a MAC and says whether it is locally
// administered (oui.Lookup).
type VendorFunc func(ident.MAC) (vendor string, local bool)

// ethernetLike are the ifTypes whose ifPhysAddress is a real MAC:
// ethernetCsmacd, iso88023Csmacd, fastEther, gigabitEthernet, ieee80211,
// l2vlan, bridge, ieee8023adLag.
var ethernetLike = map[int]bool{6: true, 7: true, 62: true, 117: true, 71: true, 135: true, 209: true, 161: true}

// Evidence returns what the device told, for identification.
func (d *Device) Evidence() identify.Evidence {
	return identify.Evidence{
		SysObjectID:   d.System.ObjectID,
		SysDescr:      d.System.Descr,
		SysServices:   d.System.Services,
		HostResources: d.Host != nil,
	}
}

// PrimaryMAC returns the MAC of the interface that holds the device's
// address, or else of its first Ethernet-like interface.
func (d *Device) PrimaryMAC() string {
	for _, f := range d.Interfaces {
		for _, ip := range f.IPs {
			if ip == d.Addr && f.MAC != "" {
				return f.MAC
			}
		}
	}
	for _, f := range d.Interfaces {
		if f.MAC != "" && ethernetLike[f.Type] {
			return f.MAC
		}
	}
	return ""
}

// Chassis returns the first chassis entity (class 3), or else the first
// entity with a serial number.
func (d *Device) Chassis() (Entity, bool) {
	for _, e := range d.Entities {
		if e.Class == 3 {
			return e, true
		}
	}
	for _, e := range d.Entities {
		if e.Serial != "" {
			return e, true
		}
	}
	return Entity{}, false
}

var ciscoPlatform = regexp.MustCompile(`^Cisco IOS(?: XE)? Software, (?:[A-Za-z]+ )?([A-Za-z0-9-]+) Software`)

// Model returns the device's model: the chassis's model name, or the
// platform Cisco names in sysDescr.
func (d *Device) Model() string {
	if c, ok := d.Chassis(); ok && c.Model != "" {
		return c.Model
	}
	if m := ciscoPlatform.FindStringSubmatch(d.System.Descr); m != nil {
		return m[1]
	}
	return ""
}

// Vendor returns the vendor the sysObjectID's enterprise number names,
// or the chassis's manufacturer.
func (d *Device) Vendor() string {
	if _, v, ok := identify.Enterprise(d.System.ObjectID); ok && v != "" {
		return v
	}
	if c, ok := d.Chassis(); ok {
		return c.Mfg
	}
	return ""
}

func (d *Device) ifName(i int) string {
	for _, f := range d.Interfaces {
		if f.Index == i {
			if f.Name != "" {
				return f.Name
			}
			if f.Descr != "" {
				return f.Descr
			}
		}
	}
	if i == 0 {
		return ""
	}
	return "ifIndex " + strconv.Itoa(i)
}

func setMAC(o *wire.Observation, s string, vendor VendorFunc) {
	m, err := ident.ParseMAC(s)
	if err != nil || m.IsZero() {
		return
	}
	o.MAC = m.String()
	o.MACLocal = m.IsLocallyAdministered()
	if vendor != nil && o.Vendor == "" {
		o.Vendor, _ = vendor(m)
	}
}

func addEv(o *wire.Observation, key, value string) {
	if value == "" || len(o.Evidence) >= wire.MaxObservationItems {
		return
	}
	o.Evidence = append(o.Evidence, wire.Evidence{Key: key, Value: value})
}

// maxPerDevice bounds the observations one device can cause, so a switch
// with a huge forwarding table cannot flood a report.
const maxPerDevice = 8192

// Observations maps a device to observations: one (method snmp) for the
// device itself and one for each of its other interface MACs; one
// snmp-arp for every entry of its ARP table; one snmp-fdb for every MAC
// its forwarding table places on a port; one lldp for every LLDP
// neighbour. It is a pure function of its arguments.
func Observations(d *Device, at time.Time, observer string, vendor VendorFunc) []wire.Observation {
	at = at.UTC().Truncate(time.Millisecond)
	via := d.Addr.String()
	var out []wire.Observation

	self := wire.Observation{
		ObservedAt: at, Observer: observer, Method: wire.MethodSNMP,
		IP: d.Addr.String(), Hostname: d.System.Name, Vendor: d.Vendor(), Model: d.Model(),
	}
	if c, ok := d.Chassis(); ok {
		self.Serial = c.Serial
	}
	primary := d.PrimaryMAC()
	setMAC(&self, primary, nil)
	v := identify.Classify(d.Evidence())
	if v.Kind != wire.KindUnknown {
		self.Kinds = v.Hints
		if len(self.Kinds) > wire.MaxObservationItems {
			self.Kinds = self.Kinds[:wire.MaxObservationItems]
		}
	}
	addEv(&self, "snmp.credential", d.Credential)
	addEv(&self, "sysDescr", d.System.Descr)
	addEv(&self, "sysObjectID", d.System.ObjectID)
	if d.System.Services > 0 {
		addEv(&self, "sysServices", strconv.Itoa(d.System.Services))
	}
	addEv(&self, "sysLocation", d.System.Location)
	addEv(&self, "sysContact", d.System.Contact)
	if d.System.UpTime > 0 {
		addEv(&self, "sysUpTime", d.System.UpTime.Round(time.Second).String())
	}
	if len(d.Interfaces) > 0 {
		addEv(&self, "if.count", strconv.Itoa(len(d.Interfaces)))
	}
	if c, ok := d.Chassis(); ok {
		addEv(&self, "entity.descr", c.Descr)
		addEv(&self, "entity.mfg", c.Mfg)
		addEv(&self, "entity.software", c.SoftwareRev)
		addEv(&self, "entity.hardware", c.HardwareRev)
	}
	if h := d.Host; h != nil {
		if h.MemoryKB > 0 {
			addEv(&self, "hr.memory_kb", strconv.FormatInt(h.MemoryKB, 10))
		}
		if h.Processors > 0 {
			addEv(&self, "hr.processors", strconv.Itoa(h.Processors))
		}
		addEv(&self, "hr.cpu", h.CPU)
	}
	for _, e := range d.Errors {
		addEv(&self, "snmp.error", e)
	}
	out = append(out, self)

	// The device's other interfaces: their MACs belong to the same device.
	seen := map[string]bool{primary: true, "": true}
	for _, f := range d.Interfaces {
		if seen[f.MAC] || !ethernetLike[f.Type] {
			continue
		}
		seen[f.MAC] = true
		o := wire.Observation{ObservedAt: at, Observer: observer, Method: wire.MethodSNMP,
			Hostname: d.System.Name, Serial: self.Serial, Via: via, Port: d.ifName(f.Index)}
		setMAC(&o, f.MAC, nil)
		if len(f.IPs) > 0 {
			o.IP = f.IPs[0].String()
		}
		addEv(&o, "if.descr", f.Descr)
		out = append(out, o)
	}

	for _, e := range d.ARP {
		if e.Type == 2 || e.IP == d.Addr || isOwnAddr(d, e.IP) {
			continue
		}
		o := wire.Observation{ObservedAt: at, Observer: observer, Method: wire.MethodSNMPARP,
			IP: e.IP.String(), Via: via, Port: d.ifName(e.IfIndex)}
		setMAC(&o, e.MAC, vendor)
		if o.MAC == "" {
			continue
		}
		out = append(out, o)
	}

	for _, e := range d.FDB {
		if e.Status == 2 || e.Status == 4 || seenOwn(d, e.MAC) {
			continue
		}
		port := d.ifName(e.IfIndex)
		if port == "" {
			port = "bridge port " + strconv.Itoa(e.BridgePort)
		}
		if e.VLAN > 0 {
			port = fmt.Sprintf("vlan %d %s", e.VLAN, port)
		}
		o := wire.Observation{ObservedAt: at, Observer: observer, Method: wire.MethodSNMPFDB, Via: via, Port: port}
		setMAC(&o, e.MAC, vendor)
		if o.MAC == "" {
			continue
		}
		out = append(out, o)
	}

	for _, n := range d.LLDP {
		o := wire.Observation{ObservedAt: at, Observer: observer, Method: wire.MethodLLDP,
			Hostname: n.SysName, Via: via, Port: n.LocalPortName}
		if o.Port == "" && n.LocalPort > 0 {
			o.Port = "lldp port " + strconv.Itoa(n.LocalPort)
		}
		if n.ChassisIDSubtype == 4 {
			setMAC(&o, n.ChassisID, vendor)
		}
		for _, a := range n.MgmtAddrs {
			if a.Is4() || o.IP == "" {
				o.IP = a.String()
				if a.Is4() {
					break
				}
			}
		}
		if o.IP == "" && o.MAC == "" {
			continue
		}
		addEv(&o, "lldp.chassis_id", n.ChassisID)
		addEv(&o, "lldp.port_id", n.PortID)
		addEv(&o, "lldp.port_descr", n.PortDescr)
		addEv(&o, "lldp.sys_descr", n.SysDescr)
		if v := identify.Classify(identify.Evidence{SysDescr: n.SysDescr, LLDPCaps: n.Caps}); v.Kind != wire.KindUnknown {
			o.Kinds = v.Hints
		}
		for _, c := range n.Caps {
			addEv(&o, "lldp.capability", c)
		}
		out = append(out, o)
	}
	if len(out) > maxPerDevice {
		out = out[:maxPerDevice]
	}
	return out
}

func isOwnAddr(d *Device, a netip.Addr) bool {
	for _, f := range d.Interfaces {
		for _, ip := range f.IPs {
			if ip == a {
				return true
			}
		}
	}
	return false
}

func seenOwn(d *Device, mac string) bool {
	for _, f := range d.Interfaces {
		if f.MAC == mac {
			return true
		}
	}
	return false
}
