package snmp

// The OIDs walked, without the leading dot. Columns are walked one by one
// rather than whole tables, so counters nobody asked for are not sent.
const (
	oidSystem      = "1.3.6.1.2.1.1"
	oidSysDescr    = "1.3.6.1.2.1.1.1.0"
	oidSysObjectID = "1.3.6.1.2.1.1.2.0"
	oidSysUpTime   = "1.3.6.1.2.1.1.3.0"
	oidSysContact  = "1.3.6.1.2.1.1.4.0"
	oidSysName     = "1.3.6.1.2.1.1.5.0"
	oidSysLocation = "1.3.6.1.2.1.1.6.0"
	oidSysServices = "1.3.6.1.2.1.1.7.0"

	// IF-MIB
	oidIfDescr      = "1.3.6.1.2.1.2.2.1.2"
	oidIfType       = "1.3.6.1.2.1.2.2.1.3"
	oidIfPhysAddr   = "1.3.6.1.2.1.2.2.1.6"
	oidIfAdmin      = "1.3.6.1.2.1.2.2.1.7"
	oidIfOper       = "1.3.6.1.2.1.2.2.1.8"
	oidIfName       = "1.3.6.1.2.1.31.1.1.1.1"
	oidIfHighSpeed  = "1.3.6.1.2.1.31.1.1.1.15"
	oidIfAlias      = "1.3.6.1.2.1.31.1.1.1.18"
	oidIPAdEntIfIdx = "1.3.6.1.2.1.4.20.1.2"

	// IP-MIB: ARP tables.
	oidNetToMediaPhys = "1.3.6.1.2.1.4.22.1.2"
	oidNetToMediaType = "1.3.6.1.2.1.4.22.1.4"
	oidNetToPhysPhys  = "1.3.6.1.2.1.4.35.1.4"
	oidNetToPhysType  = "1.3.6.1.2.1.4.35.1.6"

	// BRIDGE-MIB and Q-BRIDGE-MIB: forwarding tables.
	oidBasePortIfIndex = "1.3.6.1.2.1.17.1.4.1.2"
	oidTpFdbPort       = "1.3.6.1.2.1.17.4.3.1.2"
	oidTpFdbStatus     = "1.3.6.1.2.1.17.4.3.1.3"
	oidQTpFdbPort      = "1.3.6.1.2.1.17.7.1.2.2.1.2"
	oidQTpFdbStatus    = "1.3.6.1.2.1.17.7.1.2.2.1.3"
	oidQVlanFdbID      = "1.3.6.1.2.1.17.7.1.4.2.1.3"

	// CISCO-VTP-MIB vtpVlanState: the VLANs whose BRIDGE-MIB is read with
	// community@vlan (v1/v2c) or context vlan-N (v3).
	oidVtpVlanState = "1.3.6.1.4.1.9.9.46.1.3.1.1.2"

	// LLDP-MIB
	oidLldpRem        = "1.0.8802.1.1.2.1.4.1.1"
	oidLldpRemManAddr = "1.0.8802.1.1.2.1.4.2.1.3"
	oidLldpLocPortID  = "1.0.8802.1.1.2.1.3.7.1.3"
	oidLldpLocPortDsc = "1.0.8802.1.1.2.1.3.7.1.4"

	// ENTITY-MIB entPhysicalTable
	oidEntDescr   = "1.3.6.1.2.1.47.1.1.1.1.2"
	oidEntClass   = "1.3.6.1.2.1.47.1.1.1.1.5"
	oidEntName    = "1.3.6.1.2.1.47.1.1.1.1.7"
	oidEntHwRev   = "1.3.6.1.2.1.47.1.1.1.1.8"
	oidEntFwRev   = "1.3.6.1.2.1.47.1.1.1.1.9"
	oidEntSwRev   = "1.3.6.1.2.1.47.1.1.1.1.10"
	oidEntSerial  = "1.3.6.1.2.1.47.1.1.1.1.11"
	oidEntMfgName = "1.3.6.1.2.1.47.1.1.1.1.12"
	oidEntModel   = "1.3.6.1.2.1.47.1.1.1.1.13"

	// HOST-RESOURCES-MIB
	oidHrMemorySize  = "1.3.6.1.2.1.25.2.2"
	oidHrDeviceType  = "1.3.6.1.2.1.25.3.2.1.2"
	oidHrDeviceDescr = "1.3.6.1.2.1.25.3.2.1.3"
	oidHrProcessor   = "1.3.6.1.2.1.25.3.1.3" // hrDeviceProcessor
)

// systemOIDs are read with one GET, which also tests a credential.
var systemOIDs = []string{oidSysDescr, oidSysObjectID, oidSysUpTime, oidSysContact, oidSysName, oidSysLocation, oidSysServices}

// walkGroup is a set of columns walked together, named in errors.
type walkGroup struct {
	name string
	oids []string
	// cisco is set for groups only Cisco devices are asked for.
	cisco bool
}

var walkGroups = []walkGroup{
	{name: "if-mib", oids: []string{oidIfDescr, oidIfType, oidIfPhysAddr, oidIfAdmin, oidIfOper, oidIfName, oidIfHighSpeed, oidIfAlias, oidIPAdEntIfIdx}},
	{name: "ip-mib", oids: []string{oidNetToMediaPhys, oidNetToMediaType, oidNetToPhysPhys, oidNetToPhysType}},
	{name: "bridge-mib", oids: []string{oidBasePortIfIndex, oidTpFdbPort, oidTpFdbStatus}},
	{name: "q-bridge-mib", oids: []string{oidQTpFdbPort, oidQTpFdbStatus, oidQVlanFdbID}},
	{name: "lldp-mib", oids: []string{oidLldpRem, oidLldpRemManAddr, oidLldpLocPortID, oidLldpLocPortDsc}},
	{name: "entity-mib", oids: []string{oidEntClass, oidEntDescr, oidEntName, oidEntHwRev, oidEntFwRev, oidEntSwRev, oidEntSerial, oidEntMfgName, oidEntModel}},
	{name: "host-resources-mib", oids: []string{oidHrMemorySize, oidHrDeviceType, oidHrDeviceDescr}},
	{name: "cisco-vtp-mib", oids: []string{oidVtpVlanState}, cisco: true},
}

// vlanOIDs are walked once per VLAN on devices that keep a BRIDGE-MIB per
// VLAN (Cisco: community@vlan).
var vlanOIDs = []string{oidBasePortIfIndex, oidTpFdbPort, oidTpFdbStatus}
