package hardware

import (
	"fmt"
	"strings"

	"github.com/umbrasec/umbra/shared/wire"
)

// WMI rows the Windows fetcher reads; the field names are the WMI
// property names.
type (
	wmiComputerSystemProduct struct{ Vendor, Name, Version, IdentifyingNumber, UUID, SKUNumber string }
	wmiComputerSystem        struct{ Manufacturer, Model, SystemFamily string }
	wmiEnclosure             struct {
		ChassisTypes   []uint16
		SMBIOSAssetTag string
		SerialNumber   string
	}
	wmiBIOS      struct{ Manufacturer, SMBIOSBIOSVersion, ReleaseDate, SerialNumber string }
	wmiBaseBoard struct{ Manufacturer, Product, Version, SerialNumber string }
	wmiDiskDrive struct {
		DeviceID, Model, SerialNumber, FirmwareRevision, InterfaceType, MediaType string
		Size                                                                      uint64
	}
	wmiPhysicalMemory struct {
		DeviceLocator, Manufacturer, PartNumber, SerialNumber string
		Capacity                                              uint64
		Speed, SMBIOSMemoryType                               uint32
	}
	wmiMonitorID struct {
		InstanceName                                                      string
		ManufacturerName, ProductCodeID, SerialNumberID, UserFriendlyName []uint16
		YearOfManufacture, WeekOfManufacture                              uint8
	}
	wmiBattery struct {
		DeviceID, Name, Chemistry string
		DesignCapacity            uint32
		FullChargeCapacity        uint32
	}
)

// WMIRows is everything the Windows fetcher reads, so that building the
// hardware from it is portable and testable.
type WMIRows struct {
	Product   []wmiComputerSystemProduct
	System    []wmiComputerSystem
	Enclosure []wmiEnclosure
	BIOS      []wmiBIOS
	BaseBoard []wmiBaseBoard
	Disks     []wmiDiskDrive
	Memory    []wmiPhysicalMemory
	Monitors  []wmiMonitorID
	Batteries []wmiBattery
}

// FromWMI builds the hardware from WMI rows.
func FromWMI(r WMIRows) *wire.Hardware {
	hw := &wire.Hardware{}
	if len(r.Product) > 0 {
		p := r.Product[0]
		hw.System = wire.System{Vendor: p.Vendor, Model: p.Name, Version: p.Version, Serial: p.IdentifyingNumber,
			UUID: strings.ToLower(p.UUID), SKU: p.SKUNumber}
	}
	if len(r.System) > 0 {
		s := r.System[0]
		if hw.System.Vendor == "" {
			hw.System.Vendor = s.Manufacturer
		}
		if hw.System.Model == "" {
			hw.System.Model = s.Model
		}
		hw.System.Family = s.SystemFamily
	}
	if len(r.Enclosure) > 0 {
		e := r.Enclosure[0]
		if len(e.ChassisTypes) > 0 {
			hw.System.Chassis = ChassisName(int(e.ChassisTypes[0]))
		}
		hw.System.AssetTag = e.SMBIOSAssetTag
	}
	if len(r.BIOS) > 0 {
		b := r.BIOS[0]
		hw.BIOS = wire.BIOS{Vendor: b.Manufacturer, Version: b.SMBIOSBIOSVersion, Date: cimDate(b.ReleaseDate)}
	}
	if len(r.BaseBoard) > 0 {
		b := r.BaseBoard[0]
		hw.Baseboard = wire.Baseboard{Vendor: b.Manufacturer, Model: b.Product, Version: b.Version, Serial: b.SerialNumber}
	}
	for _, d := range r.Disks {
		kind := ""
		switch {
		case strings.Contains(strings.ToLower(d.Model), "nvme"):
			kind = wire.DiskNVMe
		case d.InterfaceType == "USB":
			kind = wire.DiskUSB
		case strings.Contains(strings.ToLower(d.Model), "virtual"):
			kind = wire.DiskVirtual
		}
		hw.Disks = append(hw.Disks, wire.Disk{Name: d.DeviceID, Model: strings.TrimSpace(d.Model), Serial: strings.TrimSpace(d.SerialNumber),
			Firmware: d.FirmwareRevision, SizeBytes: d.Size, Kind: kind, Removable: strings.HasPrefix(d.MediaType, "Removable")})
	}
	for _, m := range r.Memory {
		hw.MemoryModules = append(hw.MemoryModules, wire.MemoryModule{Locator: m.DeviceLocator, SizeBytes: m.Capacity,
			Type: smbiosMemoryType(m.SMBIOSMemoryType), SpeedMTs: int(m.Speed), Manufacturer: strings.TrimSpace(m.Manufacturer),
			PartNumber: strings.TrimSpace(m.PartNumber), Serial: strings.TrimSpace(m.SerialNumber)})
	}
	for _, m := range r.Monitors {
		mon := wire.Monitor{Port: m.InstanceName, Maker: u16(m.ManufacturerName), ProductCode: strings.ToLower(u16(m.ProductCodeID)),
			Serial: u16(m.SerialNumberID), Model: u16(m.UserFriendlyName), Week: int(m.WeekOfManufacture)}
		if m.YearOfManufacture > 0 {
			mon.Year = 1990 + int(m.YearOfManufacture)
		}
		hw.Monitors = append(hw.Monitors, mon)
	}
	for _, b := range r.Batteries {
		hw.Batteries = append(hw.Batteries, wire.Battery{Name: b.DeviceID, Model: b.Name, DesignCapacity: int64(b.DesignCapacity),
			FullCapacity: int64(b.FullChargeCapacity), CapacityUnit: "mWh"})
	}
	return hw
}

// u16 turns WmiMonitorID's zero-padded UTF-16 arrays into a string.
func u16(a []uint16) string {
	var b strings.Builder
	for _, c := range a {
		if c == 0 {
			break
		}
		b.WriteRune(rune(c))
	}
	return strings.TrimSpace(b.String())
}

// cimDate turns a CIM datetime (20240807000000.000000+000) into YYYY-MM-DD.
func cimDate(s string) string {
	if len(s) < 8 {
		return ""
	}
	return fmt.Sprintf("%s-%s-%s", s[:4], s[4:6], s[6:8])
}

func smbiosMemoryType(t uint32) string {
	switch t {
	case 20:
		return "DDR"
	case 21:
		return "DDR2"
	case 24:
		return "DDR3"
	case 26:
		return "DDR4"
	case 27:
		return "LPDDR"
	case 28:
		return "LPDDR2"
	case 29:
		return "LPDDR3"
	case 30:
		return "LPDDR4"
	case 34:
		return "DDR5"
	case 35:
		return "LPDDR5"
	}
	return ""
}
