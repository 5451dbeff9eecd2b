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
		DeviceLocator, BankLabel, Manufacturer, PartNumber, SerialNumber string
		Capacity                                                         uint64
		Speed, SMBIOSMemoryType                                          uint32
		// ConfiguredClockSpeed is there from Windows 8 / Server 2012 on.
		ConfiguredClockSpeed uint32
		// MemoryType is the CIM memory type, which Windows fills where
		// SMBIOSMemoryType is 0 (Windows 7).
		MemoryType uint16
	}
	wmiPhysicalMemoryArray struct {
		Use, MemoryDevices uint16
		// MaxCapacity in KiB; MaxCapacityEx (Windows 8 on) when it is
		// 2 TiB or more.
		MaxCapacity   uint32
		MaxCapacityEx uint64
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
	Arrays    []wmiPhysicalMemoryArray
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
		typ := SMBIOSMemoryType(int(m.SMBIOSMemoryType))
		if typ == "" {
			typ = cimMemoryTypes[m.MemoryType]
		}
		hw.MemoryModules = append(hw.MemoryModules, wire.MemoryModule{Locator: strings.TrimSpace(m.DeviceLocator),
			Bank: strings.TrimSpace(m.BankLabel), SizeBytes: m.Capacity, Type: typ, SpeedMTs: int(m.Speed),
			ConfiguredSpeedMTs: int(m.ConfiguredClockSpeed), Manufacturer: strings.TrimSpace(m.Manufacturer),
			PartNumber: strings.TrimSpace(m.PartNumber), Serial: strings.TrimSpace(m.SerialNumber)})
	}
	for _, a := range r.Arrays {
		if a.Use != smbiosUseSystemMemory {
			continue
		}
		hw.MemorySlots += int(a.MemoryDevices)
		if a.MaxCapacityEx > 0 && a.MaxCapacityEx < 1<<52 {
			hw.MemoryMaxBytes += a.MaxCapacityEx << 10
		} else if a.MaxCapacity != 0x8000_0000 {
			hw.MemoryMaxBytes += uint64(a.MaxCapacity) << 10
		}
	}
	if hw.MemorySlots > 0 {
		hw.MemorySlots = max(hw.MemorySlots, len(hw.MemoryModules))
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

// cimMemoryTypes name the CIM_PhysicalMemory MemoryType values, which
// number the memory types differently from SMBIOS.
var cimMemoryTypes = map[uint16]string{
	2: "DRAM", 3: "Synchronous DRAM", 4: "Cache DRAM", 5: "EDO", 6: "EDRAM", 7: "VRAM", 8: "SRAM", 9: "RAM",
	10: "ROM", 11: "Flash", 12: "EEPROM", 13: "FEPROM", 14: "EPROM", 15: "CDRAM", 16: "3DRAM", 17: "SDRAM",
	18: "SGRAM", 19: "RDRAM", 20: "DDR", 21: "DDR2", 22: "DDR2 FB-DIMM", 24: "DDR3", 25: "FBD2",
}
