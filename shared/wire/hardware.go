package wire

import "fmt"

// Hardware is what the firmware and the buses say about the machine. The
// agent drops placeholder serials, asset tags and UUIDs ("To be filled by
// O.E.M.", all zeros): see ident.IsPlaceholder.
type Hardware struct {
	System    System    `json:"system,omitzero"`
	BIOS      BIOS      `json:"bios,omitzero"`
	Baseboard Baseboard `json:"baseboard,omitzero"`

	Disks         []Disk         `json:"disks,omitempty"`
	MemoryModules []MemoryModule `json:"memory_modules,omitempty"`
	Monitors      []Monitor      `json:"monitors,omitempty"`
	Batteries     []Battery      `json:"batteries,omitempty"`

	// MemorySlots is the number of memory slots, populated or not, and
	// MemoryMaxBytes the most memory the board takes (SMBIOS type 16);
	// 0 when unknown (soldered memory, Apple silicon).
	MemorySlots    int    `json:"memory_slots,omitempty"`
	MemoryMaxBytes uint64 `json:"memory_max_bytes,omitempty"`
}

// System is the SMBIOS system and chassis information (type 1 and 3).
type System struct {
	Vendor  string `json:"vendor,omitempty"`
	Model   string `json:"model,omitempty"`   // product name: "Latitude 7440", "MacBookPro18,3"
	Family  string `json:"family,omitempty"`  // "Latitude", "ThinkPad T14 Gen 3"
	Version string `json:"version,omitempty"` // product version
	SKU     string `json:"sku,omitempty"`
	Serial  string `json:"serial,omitempty"`
	UUID    string `json:"uuid,omitempty"`
	// Chassis is the SMBIOS chassis type by name: desktop, laptop,
	// notebook, server, rack-mount, tablet, …
	Chassis  string `json:"chassis,omitempty"`
	AssetTag string `json:"asset_tag,omitempty"`
}

// BIOS is the system firmware.
type BIOS struct {
	Vendor  string `json:"vendor,omitempty"`
	Version string `json:"version,omitempty"`
	// Date is the firmware release date as YYYY-MM-DD.
	Date string `json:"date,omitempty"`
}

// Baseboard is the main board (SMBIOS type 2).
type Baseboard struct {
	Vendor   string `json:"vendor,omitempty"`
	Model    string `json:"model,omitempty"`
	Version  string `json:"version,omitempty"`
	Serial   string `json:"serial,omitempty"`
	AssetTag string `json:"asset_tag,omitempty"`
}

// The kinds of disk.
const (
	DiskSSD     = "ssd"
	DiskHDD     = "hdd"
	DiskNVMe    = "nvme"
	DiskVirtual = "virtual"
	DiskUSB     = "usb"
	DiskOptical = "optical"
)

// Disk is a physical (or, in a VM, virtual) disk: not a partition.
type Disk struct {
	Name      string `json:"name"` // sda, nvme0n1, \\.\PHYSICALDRIVE0, disk0
	Model     string `json:"model,omitempty"`
	Vendor    string `json:"vendor,omitempty"`
	Serial    string `json:"serial,omitempty"`
	Firmware  string `json:"firmware,omitempty"`
	SizeBytes uint64 `json:"size_bytes,omitempty"`
	// Kind is one of the Disk constants, or empty when unknown.
	Kind      string `json:"kind,omitempty"`
	Removable bool   `json:"removable,omitempty"`
}

// MemoryModule is one populated memory slot (SMBIOS type 17).
type MemoryModule struct {
	Locator string `json:"locator,omitempty"` // "DIMM A1", "ChannelA-DIMM0"
	// Bank is the bank locator ("BANK 0", "P0 CHANNEL A"): some boards
	// repeat Locator in every channel.
	Bank      string `json:"bank,omitempty"`
	SizeBytes uint64 `json:"size_bytes,omitempty"`
	Type      string `json:"type,omitempty"` // DDR4, LPDDR5
	// SpeedMTs is the module's rated speed and ConfiguredSpeedMTs the one
	// the board runs it at, in megatransfers per second.
	SpeedMTs           int    `json:"speed_mts,omitempty"`
	ConfiguredSpeedMTs int    `json:"configured_speed_mts,omitempty"`
	Manufacturer       string `json:"manufacturer,omitempty"`
	PartNumber         string `json:"part_number,omitempty"`
	Serial             string `json:"serial,omitempty"`
}

// Monitor is a display, as its EDID describes it.
type Monitor struct {
	// Port is where it is attached: card0-DP-1, DISPLAY1.
	Port string `json:"port,omitempty"`
	// Maker is the three-letter PNP manufacturer id (DEL, SAM, APP) and
	// ProductCode the maker's product number, in hex.
	Maker       string `json:"maker,omitempty"`
	ProductCode string `json:"product_code,omitempty"`
	Model       string `json:"model,omitempty"` // the display name descriptor
	Serial      string `json:"serial,omitempty"`
	// Year and Week of manufacture; Week is 0 when unknown.
	Year     int `json:"year,omitempty"`
	Week     int `json:"week,omitempty"`
	WidthCm  int `json:"width_cm,omitempty"`
	HeightCm int `json:"height_cm,omitempty"`
}

// Battery is one battery. Capacities are in CapacityUnit, "mWh" or "mAh"
// (when the battery reports charge without a voltage).
type Battery struct {
	Name           string `json:"name,omitempty"`
	Manufacturer   string `json:"manufacturer,omitempty"`
	Model          string `json:"model,omitempty"`
	Serial         string `json:"serial,omitempty"`
	Chemistry      string `json:"chemistry,omitempty"`
	DesignCapacity int64  `json:"design_capacity,omitempty"`
	FullCapacity   int64  `json:"full_capacity,omitempty"`
	CapacityUnit   string `json:"capacity_unit,omitempty"`
	CycleCount     int    `json:"cycle_count,omitempty"`
	Status         string `json:"status,omitempty"` // charging, discharging, full, …
}

func (hw *Hardware) validate(v *validator) {
	s := hw.System
	v.strs("inventory.hardware.system", "vendor", s.Vendor, "model", s.Model, "family", s.Family,
		"version", s.Version, "sku", s.SKU, "serial", s.Serial, "uuid", s.UUID, "chassis", s.Chassis,
		"asset_tag", s.AssetTag)
	b := hw.BIOS
	v.strs("inventory.hardware.bios", "vendor", b.Vendor, "version", b.Version, "date", b.Date)
	m := hw.Baseboard
	v.strs("inventory.hardware.baseboard", "vendor", m.Vendor, "model", m.Model, "version", m.Version,
		"serial", m.Serial, "asset_tag", m.AssetTag)
	if v.count("inventory.hardware.disks", len(hw.Disks), v.lim.MaxDisks) {
		for i, d := range hw.Disks {
			p := fmt.Sprintf("inventory.hardware.disks[%d]", i)
			if d.Name == "" {
				v.addf("%s.name is missing", p)
			}
			v.strs(p, "name", d.Name, "model", d.Model, "vendor", d.Vendor, "serial", d.Serial,
				"firmware", d.Firmware, "kind", d.Kind)
		}
	}
	v.nonNegative("inventory.hardware.memory_slots", hw.MemorySlots)
	if v.count("inventory.hardware.memory_modules", len(hw.MemoryModules), v.lim.MaxModules) {
		for i, d := range hw.MemoryModules {
			p := fmt.Sprintf("inventory.hardware.memory_modules[%d]", i)
			v.strs(p, "locator", d.Locator, "bank", d.Bank, "type", d.Type, "manufacturer", d.Manufacturer,
				"part_number", d.PartNumber, "serial", d.Serial)
			v.nonNegative(p+".speed_mts", d.SpeedMTs)
			v.nonNegative(p+".configured_speed_mts", d.ConfiguredSpeedMTs)
		}
	}
	if v.count("inventory.hardware.monitors", len(hw.Monitors), v.lim.MaxMonitors) {
		for i, d := range hw.Monitors {
			p := fmt.Sprintf("inventory.hardware.monitors[%d]", i)
			v.strs(p, "port", d.Port, "maker", d.Maker, "product_code", d.ProductCode, "model", d.Model,
				"serial", d.Serial)
			v.nonNegative(p+".year", d.Year)
			v.nonNegative(p+".week", d.Week)
			v.nonNegative(p+".width_cm", d.WidthCm)
			v.nonNegative(p+".height_cm", d.HeightCm)
		}
	}
	if v.count("inventory.hardware.batteries", len(hw.Batteries), v.lim.MaxBatteries) {
		for i, d := range hw.Batteries {
			p := fmt.Sprintf("inventory.hardware.batteries[%d]", i)
			v.strs(p, "name", d.Name, "manufacturer", d.Manufacturer, "model", d.Model, "serial", d.Serial,
				"chemistry", d.Chemistry, "capacity_unit", d.CapacityUnit, "status", d.Status)
			if d.DesignCapacity < 0 || d.FullCapacity < 0 || d.CycleCount < 0 {
				v.addf("%s capacities and cycle count must not be negative", p)
			}
		}
	}
}

// strs checks pairs of field names and values under prefix.
func (v *validator) strs(prefix string, pairs ...string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		if len(pairs[i+1]) > v.lim.MaxStringLen {
			v.str(prefix+"."+pairs[i], pairs[i+1])
		}
	}
}

// count reports whether n entries of field fit in limit, and notes it when
// they do not.
func (v *validator) count(field string, n, limit int) bool {
	if n > limit {
		v.addf("%s has %d entries, the limit is %d", field, n, limit)
		return false
	}
	return true
}

func (v *validator) nonNegative(field string, n int) {
	if n < 0 {
		v.addf("%s must not be negative", field)
	}
}

// tokenOK reports whether token(field, s, true) finds nothing wrong with s.
func tokenOK(s string) bool {
	return s != "" && len(s) <= 64 && tokenChars(s)
}

// tokenChars reports whether s has only lower-case letters, digits and -_.
func tokenChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// token checks a short machine-readable word: at most 64 bytes of lower-case
// letters, digits and -_. ; empty is allowed unless required.
func (v *validator) token(field, s string, required bool) {
	if s == "" {
		if required {
			v.addf("%s is missing", field)
		}
		return
	}
	if len(s) > 64 {
		v.addf("%s is longer than 64 bytes", field)
		return
	}
	if !tokenChars(s) {
		v.addf("%s %q has a character outside [a-z0-9-_.]", field, truncate(s, 64))
	}
}
