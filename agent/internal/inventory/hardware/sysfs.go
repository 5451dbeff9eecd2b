package hardware

import (
	"errors"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

// ReadSysFS reads the hardware a Linux kernel exposes under sys/ of root
// (normally "/"): DMI ids, block devices, DRM connectors' EDID and power
// supplies. Root-only DMI files (serials, UUID) are reported unavailable.
func ReadSysFS(root fs.FS) (*wire.Hardware, []error) {
	hw := &wire.Hardware{}
	var errs []error
	readDMI(root, hw, &errs)
	readSMBIOSMemory(root, hw, &errs)
	hw.Disks = readBlock(root, &errs)
	hw.Monitors = readDRM(root, &errs)
	hw.Batteries = readPowerSupply(root, &errs)
	return hw, errs
}

func readDMI(root fs.FS, hw *wire.Hardware, errs *[]error) {
	const dir = "sys/class/dmi/id"
	if _, err := fs.Stat(root, dir); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			*errs = append(*errs, source.Wrap(SourceDMI, err))
		}
		return // no SMBIOS: a Raspberry Pi, a container without /sys
	}
	var denied []string
	get := func(name string) string {
		b, err := fs.ReadFile(root, dir+"/"+name)
		if errors.Is(err, fs.ErrPermission) {
			denied = append(denied, name)
		}
		return strings.TrimSpace(string(b))
	}
	s := &hw.System
	s.Vendor, s.Model, s.Family = get("sys_vendor"), get("product_name"), get("product_family")
	s.Version, s.SKU, s.Serial = get("product_version"), get("product_sku"), get("product_serial")
	s.UUID, s.AssetTag = strings.ToLower(get("product_uuid")), get("chassis_asset_tag")
	if n, err := strconv.Atoi(get("chassis_type")); err == nil {
		s.Chassis = ChassisName(n)
	}
	hw.BIOS = wire.BIOS{Vendor: get("bios_vendor"), Version: get("bios_version"), Date: biosDate(get("bios_date"))}
	b := &hw.Baseboard
	b.Vendor, b.Model, b.Version, b.Serial, b.AssetTag = get("board_vendor"), get("board_name"), get("board_version"),
		get("board_serial"), get("board_asset_tag")
	if len(denied) > 0 {
		*errs = append(*errs, source.Errorf(SourceDMI, "/%s/{%s}: readable by root only: %w", dir, strings.Join(denied, ","), source.ErrUnavailable))
	}
}

// readSMBIOSMemory reads the memory modules from the raw SMBIOS table,
// which only root may read.
func readSMBIOSMemory(root fs.FS, hw *wire.Hardware, errs *[]error) {
	const dir = "sys/firmware/dmi/tables"
	table, err := fs.ReadFile(root, dir+"/DMI")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return // no SMBIOS (ARM boards, containers), or a kernel before 4.2
	case errors.Is(err, fs.ErrPermission):
		*errs = append(*errs, source.Errorf(SourceMemory, "/%s/DMI: readable by root only: %w", dir, source.ErrUnavailable))
		return
	case err != nil:
		*errs = append(*errs, source.Wrap(SourceMemory, err))
		return
	}
	m, err := ParseSMBIOSMemory(table)
	if err != nil {
		*errs = append(*errs, source.Errorf(SourceMemory, "/%s/DMI: %w", dir, err))
	}
	if ep, e := fs.ReadFile(root, dir+"/smbios_entry_point"); e == nil {
		p, e := ParseSMBIOSEntryPoint(ep)
		switch {
		case e != nil:
			*errs = append(*errs, source.Errorf(SourceMemory, "/%s/smbios_entry_point: %w", dir, e))
		case p.Major < 3 && len(table) < p.TableLen && err == nil:
			// A 2.x entry point gives the exact length; 3.x a maximum.
			*errs = append(*errs, source.Errorf(SourceMemory, "/%s/DMI: %d bytes, the entry point says %d: truncated", dir, len(table), p.TableLen))
		}
	}
	hw.MemoryModules, hw.MemorySlots, hw.MemoryMaxBytes = m.Modules, m.Slots, m.MaxBytes
}

// readBlock lists whole disks under sys/block, leaving out loop, RAM,
// device-mapper, md and zram devices, which are not hardware.
func readBlock(root fs.FS, errs *[]error) []wire.Disk {
	ents, err := fs.ReadDir(root, "sys/block")
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			*errs = append(*errs, source.Wrap(SourceDisks, err))
		}
		return nil
	}
	serials := byIDSerials(root)
	var out []wire.Disk
	for _, e := range ents {
		name := e.Name()
		if skipBlock(name) {
			continue
		}
		get := func(p string) string {
			b, _ := fs.ReadFile(root, path.Join("sys/block", name, p))
			return strings.TrimSpace(string(b))
		}
		d := wire.Disk{Name: name, Model: get("device/model"), Vendor: get("device/vendor"), Serial: get("device/serial")}
		if d.Serial == "" {
			d.Serial = serials[name]
		}
		if d.Serial == "" {
			d.Serial = get("serial") // virtio-blk: the serial the host set
		}
		d.Firmware = get("device/firmware_rev")
		if d.Firmware == "" {
			d.Firmware = get("device/rev")
		}
		if sectors, err := strconv.ParseUint(get("size"), 10, 64); err == nil {
			d.SizeBytes = sectors * 512
		}
		d.Removable = get("removable") == "1"
		d.Kind = diskKind(name, d.Vendor, d.Model, get("queue/rotational"), get("uevent"))
		if d.SizeBytes == 0 && d.Removable && d.Kind != wire.DiskOptical {
			continue // an empty card reader slot
		}
		out = append(out, d)
	}
	return out
}

func skipBlock(name string) bool {
	for _, p := range []string{"loop", "ram", "dm-", "md", "zram", "nbd", "fd"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// diskKind guesses the kind of a disk from its name, vendor and whether it
// rotates.
func diskKind(name, vendor, model, rotational, uevent string) string {
	v := strings.ToLower(vendor + " " + model)
	switch {
	case strings.HasPrefix(name, "nvme"):
		return wire.DiskNVMe
	case strings.HasPrefix(name, "sr"):
		return wire.DiskOptical
	case strings.HasPrefix(name, "vd") || strings.HasPrefix(name, "xvd") ||
		strings.Contains(v, "qemu") || strings.Contains(v, "vmware") || strings.Contains(v, "vbox") ||
		strings.Contains(v, "virtual") || strings.Contains(v, "msft"):
		return wire.DiskVirtual
	case strings.Contains(uevent, "usb"):
		return wire.DiskUSB
	case rotational == "0":
		return wire.DiskSSD
	case rotational == "1":
		return wire.DiskHDD
	}
	return ""
}

// byIDSerials maps disk names to the serial in their /dev/disk/by-id link
// name (ata-MODEL_SERIAL → ../../sda), for SATA disks whose serial sysfs
// does not show.
func byIDSerials(root fs.FS) map[string]string {
	out := map[string]string{}
	ents, err := fs.ReadDir(root, "dev/disk/by-id")
	if err != nil {
		return out
	}
	rl, ok := root.(fs.ReadLinkFS)
	if !ok {
		return out
	}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, "ata-") && !strings.HasPrefix(n, "scsi-") && !strings.HasPrefix(n, "usb-") || strings.Contains(n, "-part") {
			continue
		}
		target, err := rl.ReadLink("dev/disk/by-id/" + n)
		if err != nil {
			continue
		}
		dev := path.Base(target)
		i := strings.LastIndexByte(n, '_')
		if i < 0 || out[dev] != "" {
			continue
		}
		serial := n[i+1:]
		if strings.HasPrefix(n, "usb-") {
			serial = strings.TrimSuffix(serial, "-0:0")
		}
		out[dev] = serial
	}
	return out
}

// readDRM reads the EDID of every connected DRM connector.
func readDRM(root fs.FS, errs *[]error) []wire.Monitor {
	ents, err := fs.ReadDir(root, "sys/class/drm")
	if err != nil {
		return nil
	}
	var out []wire.Monitor
	for _, e := range ents {
		edid, err := fs.ReadFile(root, path.Join("sys/class/drm", e.Name(), "edid"))
		if err != nil || len(edid) == 0 {
			continue
		}
		m, err := ParseEDID(edid)
		if err != nil {
			*errs = append(*errs, source.Errorf(SourceMonitors, "%s: %w", e.Name(), err))
			continue
		}
		m.Port = e.Name()
		out = append(out, m)
	}
	return out
}

// readPowerSupply reads the system batteries (not those of a mouse or a
// UPS, whose scope is Device).
func readPowerSupply(root fs.FS, errs *[]error) []wire.Battery {
	ents, err := fs.ReadDir(root, "sys/class/power_supply")
	if err != nil {
		return nil
	}
	var out []wire.Battery
	for _, e := range ents {
		uevent, err := fs.ReadFile(root, path.Join("sys/class/power_supply", e.Name(), "uevent"))
		if err != nil {
			*errs = append(*errs, source.Errorf(SourceBatteries, "%s: %w", e.Name(), err))
			continue
		}
		b, ok := ParsePowerSupplyUevent(uevent)
		if !ok {
			continue
		}
		b.Name = e.Name()
		out = append(out, b)
	}
	return out
}

// ParsePowerSupplyUevent reads a power supply's uevent file (KEY=value
// lines, POWER_SUPPLY_ prefixed) and reports whether it is a system
// battery. Energies in µWh become mWh; charges in µAh become mWh with the
// design minimum voltage, or stay mAh without it.
func ParsePowerSupplyUevent(b []byte) (wire.Battery, bool) {
	kv := map[string]string{}
	for l := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
		if ok {
			kv[strings.TrimPrefix(k, "POWER_SUPPLY_")] = v
		}
	}
	if kv["TYPE"] != "Battery" || kv["SCOPE"] == "Device" {
		return wire.Battery{}, false
	}
	num := func(k string) int64 {
		n, _ := strconv.ParseInt(kv[k], 10, 64)
		return max(n, 0)
	}
	bat := wire.Battery{Manufacturer: kv["MANUFACTURER"], Model: kv["MODEL_NAME"], Serial: kv["SERIAL_NUMBER"],
		Chemistry: kv["TECHNOLOGY"], Status: strings.ToLower(kv["STATUS"]), CycleCount: int(min(num("CYCLE_COUNT"), 1<<30))}
	if d := num("ENERGY_FULL_DESIGN"); d > 0 {
		bat.DesignCapacity, bat.FullCapacity, bat.CapacityUnit = d/1000, num("ENERGY_FULL")/1000, "mWh"
	} else if d := num("CHARGE_FULL_DESIGN"); d > 0 {
		if v := num("VOLTAGE_MIN_DESIGN"); v > 0 && v < 100_000_000 {
			// µAh × µV = 1e-12 Wh; ÷1e9 gives mWh.
			bat.DesignCapacity, bat.FullCapacity, bat.CapacityUnit = d*v/1e9, num("CHARGE_FULL")*v/1e9, "mWh"
		} else {
			bat.DesignCapacity, bat.FullCapacity, bat.CapacityUnit = d/1000, num("CHARGE_FULL")/1000, "mAh"
		}
	}
	return bat, true
}
