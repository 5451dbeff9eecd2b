package wire

import (
	"fmt"
	"net/netip"
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
}

// OS describes the operating system.
type OS struct {
	Family        string `json:"family"`   // linux, windows, darwin, freebsd, …
	Platform      string `json:"platform"` // debian, ubuntu, Microsoft Windows 11 Pro, darwin, …
	PlatformGroup string `json:"platform_group,omitempty"`
	Version       string `json:"version,omitempty"`
	Kernel        string `json:"kernel,omitempty"`
	Arch          string `json:"arch,omitempty"`
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
}

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
	}
	h := inv.Host
	v.str("inventory.host.host_id", h.HostID)
	if h.Hostname == "" {
		v.addf("inventory.host.hostname is missing")
	}
	v.str("inventory.host.hostname", h.Hostname)
	v.str("inventory.host.virtualization", h.Virtualization)
	v.str("inventory.host.virtualization_role", h.VirtualizationRole)
	o := inv.OS
	for _, f := range []struct{ name, val string }{
		{"family", o.Family}, {"platform", o.Platform}, {"platform_group", o.PlatformGroup},
		{"version", o.Version}, {"kernel", o.Kernel}, {"arch", o.Arch},
	} {
		v.str("inventory.os."+f.name, f.val)
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
	if len(inv.Errors) > v.lim.MaxSourceErrors {
		v.addf("inventory.errors has %d entries, the limit is %d", len(inv.Errors), v.lim.MaxSourceErrors)
	} else {
		for i, e := range inv.Errors {
			v.str(fmt.Sprintf("inventory.errors[%d].source", i), e.Source)
			v.str(fmt.Sprintf("inventory.errors[%d].error", i), e.Error)
		}
	}
}
