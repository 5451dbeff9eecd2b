// Package hardware reads what the firmware and the buses say about the
// machine: SMBIOS system, BIOS and baseboard, disks, memory modules,
// monitors (EDID) and batteries.
//
// The OS files only fetch: Linux reads /sys (ReadSysFS, portable and tested
// on fixture trees), Windows asks WMI, macOS runs system_profiler. Every
// parser is portable and tested on Linux from recorded fixtures.
package hardware

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/ident"
	"github.com/umbrasec/umbra/shared/wire"
)

// Source names, as they appear in the inventory's errors.
const (
	SourceDMI       = "hardware.dmi"
	SourceDisks     = "hardware.disks"
	SourceMemory    = "hardware.memory_modules"
	SourceMonitors  = "hardware.monitors"
	SourceBatteries = "hardware.batteries"
)

// Collect reads this host's hardware. Each error is a *source.Error; what
// could be read is returned all the same.
func Collect(ctx context.Context) (*wire.Hardware, []error) {
	hw, errs := collect(ctx)
	Clean(hw, &errs)
	return hw, errs
}

// Clean drops placeholder identifiers (serials, UUIDs, asset tags) from
// hw, noting the system serial and UUID in errs since they are identity.
func Clean(hw *wire.Hardware, errs *[]error) {
	if hw == nil {
		return
	}
	idField := func(name string, s *string, note bool) {
		if strings.TrimSpace(*s) == "" {
			*s = ""
			return
		}
		v, err := ident.CleanIdentifier(*s)
		if err != nil && note {
			*errs = append(*errs, source.Errorf(SourceDMI, "%s dropped: %w", name, err))
		}
		*s = v
	}
	idField("system serial", &hw.System.Serial, true)
	idField("system uuid", &hw.System.UUID, true)
	idField("system asset tag", &hw.System.AssetTag, false)
	idField("baseboard serial", &hw.Baseboard.Serial, false)
	idField("baseboard asset tag", &hw.Baseboard.AssetTag, false)
	for _, s := range []*string{&hw.System.Vendor, &hw.System.Model, &hw.System.Family, &hw.System.Version,
		&hw.System.SKU, &hw.Baseboard.Vendor, &hw.Baseboard.Model, &hw.Baseboard.Version} {
		if ident.IsPlaceholder(*s) {
			*s = ""
		}
	}
	for i := range hw.Disks {
		idField("disk serial", &hw.Disks[i].Serial, false)
	}
	for i := range hw.MemoryModules {
		m := &hw.MemoryModules[i]
		idField("memory serial", &m.Serial, false)
		m.Manufacturer = memoryMaker(m.Manufacturer)
		m.PartNumber = hexASCII(m.PartNumber)
		for _, s := range []*string{&m.Manufacturer, &m.PartNumber} {
			if ident.IsPlaceholder(*s) {
				*s = ""
			}
		}
	}
	for i := range hw.Monitors {
		idField("monitor serial", &hw.Monitors[i].Serial, false)
	}
	for i := range hw.Batteries {
		idField("battery serial", &hw.Batteries[i].Serial, false)
	}
}

// jedecMakers name the JEDEC JEP106 manufacturer codes that firmware and
// macOS give for a module's maker instead of a name: the continuation
// count with its parity bit, then the maker's id.
var jedecMakers = map[string]string{
	"80CE": "Samsung", "80AD": "SK Hynix", "802C": "Micron", "0198": "Kingston", "029E": "Corsair",
	"859B": "Crucial", "04CD": "G.Skill", "830B": "Nanya", "02FE": "Elpida", "04CB": "ADATA",
	"0443": "Ramaxel", "014F": "Transcend",
}

// memoryMaker names a module maker given as a JEDEC code ("0x80CE",
// "80CE", "80CE000080CE"), and returns any other value as it is.
func memoryMaker(s string) string {
	c := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "0X")
	if len(c) == 12 && c[4:8] == "0000" && c[8:] == c[:4] {
		c = c[:4]
	}
	if n, ok := jedecMakers[c]; ok {
		return n
	}
	return s
}

// hexASCII decodes a part number that macOS and some firmware give as
// hex-encoded ASCII ("0x4D3437...20"); any other value is returned as it
// is.
func hexASCII(s string) string {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || len(h) < 8 || len(h)%2 != 0 {
		return s
	}
	b := make([]byte, 0, len(h)/2)
	for i := 0; i < len(h); i += 2 {
		v, err := strconv.ParseUint(h[i:i+2], 16, 8)
		if err != nil {
			return s
		}
		if v == 0 {
			break // NUL padding
		}
		if v < 0x20 || v > 0x7e {
			return s
		}
		b = append(b, byte(v))
	}
	return strings.TrimSpace(string(b))
}

// chassisTypes are the SMBIOS 3.x chassis type names, by number.
var chassisTypes = []string{1: "other", 2: "unknown", 3: "desktop", 4: "low-profile-desktop", 5: "pizza-box",
	6: "mini-tower", 7: "tower", 8: "portable", 9: "laptop", 10: "notebook", 11: "hand-held",
	12: "docking-station", 13: "all-in-one", 14: "sub-notebook", 15: "space-saving", 16: "lunch-box",
	17: "main-server-chassis", 18: "expansion-chassis", 19: "sub-chassis", 20: "bus-expansion-chassis",
	21: "peripheral-chassis", 22: "raid-chassis", 23: "rack-mount", 24: "sealed-case-pc",
	25: "multi-system-chassis", 26: "compact-pci", 27: "advanced-tca", 28: "blade", 29: "blade-enclosure",
	30: "tablet", 31: "convertible", 32: "detachable", 33: "iot-gateway", 34: "embedded-pc",
	35: "mini-pc", 36: "stick-pc"}

// ChassisName names an SMBIOS chassis type number ("10" → "notebook").
func ChassisName(n int) string {
	n &= 0x7f // the top bit is the lock flag
	if n > 0 && n < len(chassisTypes) && chassisTypes[n] != "" {
		if n == 2 {
			return ""
		}
		return chassisTypes[n]
	}
	return ""
}

// biosDate turns the SMBIOS MM/DD/YYYY (or MM/DD/YY) into YYYY-MM-DD.
func biosDate(s string) string {
	s = strings.TrimSpace(s)
	var m, d, y int
	if n, _ := fmt.Sscanf(s, "%d/%d/%d", &m, &d, &y); n == 3 && m >= 1 && m <= 12 && d >= 1 && d <= 31 {
		if y < 100 {
			y += 1900
			if y < 1980 {
				y += 100
			}
		}
		return fmt.Sprintf("%04d-%02d-%02d", y, m, d)
	}
	return s
}
