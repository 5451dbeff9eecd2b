package wire

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/umbrasec/umbra/shared/ident"
)

// Inventory is what an agent knows about its own host at one moment.
type Inventory struct {
	// CollectedAt is when collection finished, by the agent's clock.
	CollectedAt time.Time `json:"collected_at"`
	// Full is true for a complete snapshot (always, in schema 1).
	Full bool `json:"full"`

	Host       Host        `json:"host"`
	OS         OS          `json:"os"`
	CPU        CPU         `json:"cpu"`
	Memory     Memory      `json:"memory"`
	Interfaces []Interface `json:"interfaces,omitempty"`

	// Hardware is the machine's firmware-reported identity and its
	// components; nil when nothing could be read.
	Hardware *Hardware `json:"hardware,omitempty"`
	// Software lists every installed package, from every package source
	// the host has. In a delta inventory (Full false) it is empty and
	// SoftwareDelta says what changed.
	Software []Package `json:"software,omitempty"`
	// SoftwareDelta is set instead of Software when the agent sends only
	// what changed since an inventory the collector already holds.
	SoftwareDelta *SoftwareDelta `json:"software_delta,omitempty"`
	// Users are the local accounts; Sessions are the users logged in now.
	Users    []User    `json:"users,omitempty"`
	Sessions []Session `json:"sessions,omitempty"`
	// Services are the system services (systemd units, Windows services,
	// launchd jobs); Listeners the sockets listening for connections.
	Services  []Service  `json:"services,omitempty"`
	Listeners []Listener `json:"listeners,omitempty"`
	// Security is the host's security posture where readable.
	Security *Security `json:"security,omitempty"`

	// Errors lists the sources that failed: a broken source costs itself,
	// not the inventory.
	Errors []SourceError `json:"errors,omitempty"`
}

// Host identifies the machine.
type Host struct {
	// HostID is the OS's machine identifier (/etc/machine-id, the SMBIOS
	// UUID, IOPlatformUUID, MachineGuid). Placeholder values are dropped by
	// the agent: see ident.IsPlaceholder.
	HostID   string `json:"host_id,omitempty"`
	Hostname string `json:"hostname"`
	// Virtualization is the hypervisor or container system, if any, and
	// VirtualizationRole is "guest" or "host".
	Virtualization     string    `json:"virtualization,omitempty"`
	VirtualizationRole string    `json:"virtualization_role,omitempty"`
	BootTime           time.Time `json:"boot_time,omitzero"`
	// FQDN is the fully qualified name when the host knows one; Domain is
	// the DNS or Active Directory domain, or Workgroup the Windows
	// workgroup of a host outside a domain.
	FQDN      string `json:"fqdn,omitempty"`
	Domain    string `json:"domain,omitempty"`
	Workgroup string `json:"workgroup,omitempty"`
	// Gateways are the next hops of the default routes; DNSServers the
	// resolvers the host is configured with (addresses, as written).
	Gateways   []string `json:"gateways,omitempty"`
	DNSServers []string `json:"dns_servers,omitempty"`
}

// OS describes the operating system.
type OS struct {
	Family        string `json:"family"`   // linux, windows, darwin, freebsd, …
	Platform      string `json:"platform"` // debian, ubuntu, Microsoft Windows 11 Pro, darwin, …
	PlatformGroup string `json:"platform_group,omitempty"`
	Version       string `json:"version,omitempty"`
	Kernel        string `json:"kernel,omitempty"`
	Arch          string `json:"arch,omitempty"`
	// Build is the OS build (Windows 22631.4460, macOS 23H222).
	Build string `json:"build,omitempty"`
	// InstallDate is when the OS was installed, where the OS records it.
	InstallDate time.Time `json:"install_date,omitzero"`
	// TimeZone is the IANA (Europe/Paris) or Windows (Romance Standard
	// Time) name of the host's zone; UTCOffsetSeconds its offset at
	// collection.
	TimeZone         string `json:"time_zone,omitempty"`
	UTCOffsetSeconds int    `json:"utc_offset_seconds,omitempty"`
}

// CPU describes the processors.
type CPU struct {
	Model   string  `json:"model,omitempty"`
	Vendor  string  `json:"vendor,omitempty"`
	Sockets int     `json:"sockets,omitempty"`
	Cores   int     `json:"cores,omitempty"`   // physical cores
	Threads int     `json:"threads,omitempty"` // logical processors
	MHz     float64 `json:"mhz,omitempty"`
}

// Memory describes physical memory.
type Memory struct {
	TotalBytes uint64 `json:"total_bytes"`
}

// Interface is one network interface.
type Interface struct {
	Name  string   `json:"name"`
	MAC   string   `json:"mac,omitempty"`   // normalised: 00:11:22:aa:bb:cc
	Addrs []string `json:"addrs,omitempty"` // CIDR notation: 192.0.2.7/24
	MTU   int      `json:"mtu,omitempty"`
	Up    bool     `json:"up"`
	// Loopback is true for the loopback interface.
	Loopback bool `json:"loopback,omitempty"`
	// Kind is the link: one of InterfaceKinds, or empty when unknown.
	Kind string `json:"kind,omitempty"`
}

// InterfaceKinds are the kinds of network link an interface may be.
var InterfaceKinds = []string{"loopback", "wired", "wireless", "virtual"}

// SourceError says why one source of inventory could not be read.
type SourceError struct {
	Source string `json:"source"` // e.g. "cpu", "dpkg"
	Error  string `json:"error"`
	// Unavailable is true when the data exists but cannot be read by this
	// agent (no privilege, no tool), rather than broken.
	Unavailable bool `json:"unavailable,omitempty"`
}

func (inv *Inventory) validate(v *validator) {
	if inv.CollectedAt.IsZero() {
		v.addf("inventory.collected_at is missing")
	} else {
		v.clock("inventory.collected_at", inv.CollectedAt)
	}
	h := inv.Host
	v.str("inventory.host.host_id", h.HostID)
	if h.Hostname == "" {
		v.addf("inventory.host.hostname is missing")
	}
	v.str("inventory.host.hostname", h.Hostname)
	v.str("inventory.host.virtualization", h.Virtualization)
	v.str("inventory.host.virtualization_role", h.VirtualizationRole)
	for _, l := range []struct {
		name string
		list []string
	}{{"gateways", h.Gateways}, {"dns_servers", h.DNSServers}} {
		if len(l.list) > v.lim.MaxAddresses {
			v.addf("inventory.host.%s has %d entries, the limit is %d", l.name, len(l.list), v.lim.MaxAddresses)
			continue
		}
		for i, a := range l.list {
			if _, err := netip.ParseAddr(a); err != nil {
				v.addf("inventory.host.%s[%d]: %q is not an address", l.name, i, truncate(a, 64))
			}
		}
	}
	v.str("inventory.host.fqdn", h.FQDN)
	v.str("inventory.host.domain", h.Domain)
	v.str("inventory.host.workgroup", h.Workgroup)
	o := inv.OS
	for _, f := range []struct{ name, val string }{
		{"family", o.Family}, {"platform", o.Platform}, {"platform_group", o.PlatformGroup},
		{"version", o.Version}, {"kernel", o.Kernel}, {"arch", o.Arch},
		{"build", o.Build}, {"time_zone", o.TimeZone},
	} {
		v.str("inventory.os."+f.name, f.val)
	}
	if o.UTCOffsetSeconds < -18*3600 || o.UTCOffsetSeconds > 18*3600 {
		v.addf("inventory.os.utc_offset_seconds %d is not a time zone offset", o.UTCOffsetSeconds)
	}
	v.str("inventory.cpu.model", inv.CPU.Model)
	v.str("inventory.cpu.vendor", inv.CPU.Vendor)
	if inv.CPU.Cores < 0 || inv.CPU.Threads < 0 || inv.CPU.Sockets < 0 {
		v.addf("inventory.cpu counts must not be negative")
	}
	if len(inv.Interfaces) > v.lim.MaxInterfaces {
		v.addf("inventory.interfaces has %d entries, the limit is %d", len(inv.Interfaces), v.lim.MaxInterfaces)
	} else {
		for i, ifc := range inv.Interfaces {
			p := fmt.Sprintf("inventory.interfaces[%d]", i)
			if ifc.Name == "" {
				v.addf("%s.name is missing", p)
			}
			v.str(p+".name", ifc.Name)
			if ifc.Kind != "" && !slices.Contains(InterfaceKinds, ifc.Kind) {
				v.addf("%s.kind %q is not one of %v", p, truncate(ifc.Kind, 32), InterfaceKinds)
			}
			if ifc.MAC != "" {
				if _, err := ident.ParseMAC(ifc.MAC); err != nil {
					v.addf("%s.mac: %v", p, err)
				}
			}
			if len(ifc.Addrs) > v.lim.MaxAddresses {
				v.addf("%s.addrs has %d entries, the limit is %d", p, len(ifc.Addrs), v.lim.MaxAddresses)
				continue
			}
			for j, a := range ifc.Addrs {
				if _, err := netip.ParsePrefix(a); err != nil {
					v.addf("%s.addrs[%d]: %q is not an address in CIDR notation", p, j, truncate(a, 64))
				}
			}
		}
	}
	if inv.Hardware != nil {
		inv.Hardware.validate(v)
	}
	validateSoftware(v, inv.Software, inv.SoftwareDelta)
	validateUsers(v, inv.Users, inv.Sessions)
	validateServices(v, inv.Services, inv.Listeners)
	if inv.Security != nil {
		inv.Security.validate(v)
	}
	if len(inv.Errors) > v.lim.MaxSourceErrors {
		v.addf("inventory.errors has %d entries, the limit is %d", len(inv.Errors), v.lim.MaxSourceErrors)
	} else {
		for i, e := range inv.Errors {
			v.str(fmt.Sprintf("inventory.errors[%d].source", i), e.Source)
			v.str(fmt.Sprintf("inventory.errors[%d].error", i), e.Error)
		}
	}
}
