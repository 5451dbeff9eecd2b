package hardware

import (
	"errors"

	"strconv"
	"strings"

	"github.com/umbrasec/umbra/agent/internal/inventory/plist"
	"github.com/umbrasec/umbra/shared/wire"
)

// ProfilerTypes are the system_profiler data types ParseSystemProfiler
// reads.
var ProfilerTypes = []string{"SPHardwareDataType", "SPMemoryDataType", "SPPowerDataType", "SPNVMeDataType", "SPSerialATADataType", "SPDisplaysDataType"}

// ParseSystemProfiler reads the output of
// `system_profiler -xml SPHardwareDataType …`: an array with one dictionary
// per data type, each with its _items.
func ParseSystemProfiler(data []byte) (*wire.Hardware, error) {
	v, err := plist.Decode(data)
	if err != nil {
		return nil, err
	}
	sections, ok := v.([]any)
	if !ok {
		return nil, errors.New("system_profiler output is not an array")
	}
	hw := &wire.Hardware{}
	for _, s := range sections {
		sec, _ := s.(map[string]any)
		items, _ := sec["_items"].([]any)
		for _, it := range items {
			d, _ := it.(map[string]any)
			if d == nil {
				continue
			}
			switch plist.String(sec, "_dataType") {
			case "SPHardwareDataType":
				hw.System = wire.System{Vendor: "Apple Inc.", Model: plist.String(d, "machine_model"),
					Family: plist.String(d, "machine_name"), Serial: plist.String(d, "serial_number"),
					UUID: strings.ToLower(plist.String(d, "platform_UUID")), SKU: plist.String(d, "model_number")}
				hw.BIOS = wire.BIOS{Vendor: "Apple Inc.", Version: plist.String(d, "boot_rom_version")}
				if strings.Contains(strings.ToLower(hw.System.Family), "book") {
					hw.System.Chassis = "notebook"
				}
			case "SPMemoryDataType":
				// Apple silicon: one entry for the whole package; Intel: a
				// _items list of DIMM slots.
				slots, _ := d["_items"].([]any)
				if len(slots) == 0 {
					slots = []any{d}
				} else {
					hw.MemorySlots += len(slots) // "empty" ones too
				}
				for _, sl := range slots {
					m, _ := sl.(map[string]any)
					size := parseSize(plist.String(m, "dimm_size"))
					if size == 0 {
						size = parseSize(plist.String(m, "SPMemoryDataType"))
					}
					if size == 0 {
						continue
					}
					hw.MemoryModules = append(hw.MemoryModules, wire.MemoryModule{Locator: plist.String(m, "_name"),
						SizeBytes: size, Type: plist.String(m, "dimm_type"), Manufacturer: plist.String(m, "dimm_manufacturer"),
						PartNumber: plist.String(m, "dimm_part_number"), Serial: plist.String(m, "dimm_serial_number"),
						SpeedMTs: atoiPrefix(plist.String(m, "dimm_speed"))})
				}
			case "SPPowerDataType":
				bi, _ := d["sppower_battery_model_info"].(map[string]any)
				hi, _ := d["sppower_battery_health_info"].(map[string]any)
				if bi == nil && hi == nil {
					continue
				}
				b := wire.Battery{Name: "InternalBattery", Manufacturer: plist.String(bi, "sppower_battery_manufacturer"),
					Model: plist.String(bi, "sppower_battery_device_name"), Serial: plist.String(bi, "sppower_battery_serial_number")}
				if n, ok := plist.Int(hi, "sppower_battery_cycle_count"); ok {
					b.CycleCount = int(n)
				}
				if c, ok := plist.Int(hi, "sppower_battery_max_capacity"); ok { // mAh on Intel Macs
					b.FullCapacity, b.CapacityUnit = c, "mAh"
				}
				b.Status = strings.ToLower(plist.String(hi, "sppower_battery_health"))
				hw.Batteries = append(hw.Batteries, b)
			case "SPNVMeDataType", "SPSerialATADataType":
				disks, _ := d["_items"].([]any)
				if len(disks) == 0 {
					disks = []any{d}
				}
				for _, dk := range disks {
					m, _ := dk.(map[string]any)
					size, _ := plist.Int(m, "size_in_bytes")
					if size <= 0 {
						continue
					}
					kind := wire.DiskSSD
					if plist.String(sec, "_dataType") == "SPNVMeDataType" {
						kind = wire.DiskNVMe
					}
					hw.Disks = append(hw.Disks, wire.Disk{Name: plist.String(m, "bsd_name"), Model: plist.String(m, "device_model"),
						Serial: plist.String(m, "device_serial"), Firmware: plist.String(m, "device_revision"),
						SizeBytes: uint64(size), Kind: kind})
				}
			case "SPDisplaysDataType":
				displays, _ := d["spdisplays_ndrvs"].([]any)
				for _, dp := range displays {
					m, _ := dp.(map[string]any)
					mon := wire.Monitor{Port: plist.String(m, "_spdisplays_displayport"), Model: plist.String(m, "_name"),
						Serial:      plist.String(m, "_spdisplays_display-serial-number"),
						ProductCode: strings.TrimPrefix(plist.String(m, "_spdisplays_display-product-id"), "0x")}
					if y, err := strconv.Atoi(plist.String(m, "_spdisplays_display-year")); err == nil {
						mon.Year = y
					}
					if mon.Model != "" {
						hw.Monitors = append(hw.Monitors, mon)
					}
				}
			}
		}
	}
	return hw, nil
}

// parseSize reads "16 GB", "512 MB".
func parseSize(s string) uint64 {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0
	}
	switch strings.ToUpper(f[1]) {
	case "GB":
		return n << 30
	case "MB":
		return n << 20
	case "TB":
		return n << 40
	}
	return 0
}

func atoiPrefix(s string) int {
	n, _ := strconv.Atoi(strings.Fields(s + " x")[0])
	return n
}
