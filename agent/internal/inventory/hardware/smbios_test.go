package hardware

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

// The helpers below build SMBIOS structure tables byte by byte after
// DMTF DSP0134 3.x: a 4-byte header (type, length, handle), the
// formatted area, then the strings, each NUL-terminated, ended by an
// extra NUL (two NULs when there are none).

// smbiosStructure returns one structure with formatted area f (after the
// header) and strings strs.
func smbiosStructure(typ byte, handle uint16, f []byte, strs ...string) []byte {
	b := []byte{typ, byte(4 + len(f)), 0, 0}
	binary.LittleEndian.PutUint16(b[2:], handle)
	b = append(b, f...)
	for _, s := range strs {
		b = append(b, s...)
		b = append(b, 0)
	}
	if len(strs) == 0 {
		b = append(b, 0)
	}
	return append(b, 0)
}

// memArray is a type 16 structure (SMBIOS 2.7, 17h bytes).
type memArray struct {
	handle  uint16
	use     byte
	maxKiB  uint32 // 8000 0000h: see extMax
	extMax  uint64 // bytes
	devices uint16
}

func (a memArray) bytes() []byte {
	f := make([]byte, 0x17-4)
	f[0x04-4] = 0x03 // location: system board
	f[0x05-4] = a.use
	f[0x06-4] = 0x03 // error correction: none
	binary.LittleEndian.PutUint32(f[0x07-4:], a.maxKiB)
	binary.LittleEndian.PutUint16(f[0x0b-4:], 0xfffe) // no error information
	binary.LittleEndian.PutUint16(f[0x0d-4:], a.devices)
	binary.LittleEndian.PutUint64(f[0x0f-4:], a.extMax)
	return smbiosStructure(smbiosMemoryArray, a.handle, f)
}

// memDevice is a type 17 structure. length picks the SMBIOS version of
// the layout: 15h (2.1), 1Bh (2.3), 22h (2.7), 28h (2.8), 5Ch (3.3).
type memDevice struct {
	length                       int
	handle, array                uint16
	size                         uint16
	extSize                      uint32 // MiB
	memType                      byte
	speed, configured            uint16
	extSpeed, extConfigured      uint32
	locator, bank, maker, serial string
	asset, part                  string
	badLocatorIndex              bool
}

func (d memDevice) bytes() []byte {
	f := make([]byte, d.length-4)
	put16 := func(off int, v uint16) {
		if off+2 <= d.length {
			binary.LittleEndian.PutUint16(f[off-4:], v)
		}
	}
	put32 := func(off int, v uint32) {
		if off+4 <= d.length {
			binary.LittleEndian.PutUint32(f[off-4:], v)
		}
	}
	var strs []string
	str := func(off int, s string) {
		if s == "" || off >= d.length {
			return
		}
		strs = append(strs, s)
		f[off-4] = byte(len(strs))
	}
	put16(0x04, d.array)
	put16(0x06, 0xfffe)
	put16(0x08, 64)
	put16(0x0a, 64)
	put16(0x0c, d.size)
	f[0x0e-4] = 0x09 // form factor: DIMM
	str(0x10, d.locator)
	str(0x11, d.bank)
	f[0x12-4] = d.memType
	put16(0x13, 0x0080) // type detail: synchronous
	put16(0x15, d.speed)
	str(0x17, d.maker)
	str(0x18, d.serial)
	str(0x19, d.asset)
	str(0x1a, d.part)
	put32(0x1c, d.extSize)
	put16(0x20, d.configured)
	put16(0x22, 1200) // voltages, mV
	put16(0x24, 1200)
	put16(0x26, 1200)
	if d.length > 0x28 {
		f[0x28-4] = 0x03 // memory technology: DRAM
	}
	put32(0x54, d.extSpeed)
	put32(0x58, d.extConfigured)
	if d.badLocatorIndex {
		f[0x10-4] = 9
	}
	return smbiosStructure(smbiosMemoryDevice, d.handle, f, strs...)
}

func endOfTable() []byte { return smbiosStructure(smbiosEndOfTable, 0xfeff, nil) }

// workstationTable is an SMBIOS 3.3 table of a four-slot DDR5 board with
// three modules, plus a flash array that is not system memory.
func workstationTable() []byte {
	var t []byte
	t = append(t, smbiosStructure(0, 0x0000, make([]byte, 0x1a-4), "American Megatrends International, LLC.", "1.A0", "03/14/2024")...)
	t = append(t, memArray{handle: 0x0030, use: smbiosUseSystemMemory, maxKiB: 0x8000_0000, extMax: 256 << 30, devices: 4}.bytes()...)
	t = append(t, memArray{handle: 0x0031, use: 5, maxKiB: 16 << 10, devices: 1}.bytes()...) // flash
	t = append(t, memDevice{length: 0x5c, handle: 0x0040, array: 0x0030, size: 0x7fff, extSize: 48 << 10, memType: 0x22,
		speed: 0xffff, extSpeed: 70000, configured: 5600, locator: "DIMM_A1", bank: "P0 CHANNEL A",
		maker: "Kingston", serial: "A1B2C3D4", asset: "Not Specified", part: "KF556C40-48  "}.bytes()...)
	t = append(t, memDevice{length: 0x5c, handle: 0x0041, array: 0x0030, size: 0, memType: 0x02,
		locator: "DIMM_A2", bank: "P0 CHANNEL A", maker: "Unknown", serial: "Unknown", part: "Unknown"}.bytes()...)
	t = append(t, memDevice{length: 0x5c, handle: 0x0042, array: 0x0030, size: 16384, memType: 0x22, speed: 5600,
		configured: 0xffff, extConfigured: 4800, locator: "DIMM_B1", bank: "P0 CHANNEL B", maker: "Samsung",
		serial: "00000000", part: "M323R2GA3BB0-CQKOD"}.bytes()...)
	t = append(t, memDevice{length: 0x5c, handle: 0x0043, array: 0x0030, size: 0x8000 | 512, memType: 0x1a,
		locator: "DIMM_B2", bank: "P0 CHANNEL B", maker: "Micron\xff", badLocatorIndex: true}.bytes()...)
	t = append(t, memDevice{length: 0x5c, handle: 0x0044, array: 0x0031, size: 16, memType: 0x09, locator: "SPI flash"}.bytes()...)
	return append(t, endOfTable()...)
}

func TestParseSMBIOSMemory(t *testing.T) {
	m, err := ParseSMBIOSMemory(workstationTable())
	if err != nil {
		t.Fatal(err)
	}
	want := SMBIOSMemory{Slots: 4, MaxBytes: 256 << 30, Modules: []wire.MemoryModule{
		{Locator: "DIMM_A1", Bank: "P0 CHANNEL A", SizeBytes: 48 << 30, Type: "DDR5", SpeedMTs: 70000, ConfiguredSpeedMTs: 5600,
			Manufacturer: "Kingston", Serial: "A1B2C3D4", PartNumber: "KF556C40-48"},
		{Locator: "DIMM_B1", Bank: "P0 CHANNEL B", SizeBytes: 16 << 30, Type: "DDR5", SpeedMTs: 5600, ConfiguredSpeedMTs: 4800,
			Manufacturer: "Samsung", Serial: "00000000", PartNumber: "M323R2GA3BB0-CQKOD"},
		{Bank: "P0 CHANNEL B", SizeBytes: 512 << 10, Type: "DDR4", Manufacturer: "Micron\uFFFD"},
	}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("ParseSMBIOSMemory =\n%+v\nwant\n%+v", m, want)
	}
	// The placeholder serial goes when the hardware is cleaned.
	hw := &wire.Hardware{MemoryModules: m.Modules}
	var errs []error
	Clean(hw, &errs)
	if hw.MemoryModules[1].Serial != "" || hw.MemoryModules[0].Serial != "A1B2C3D4" {
		t.Errorf("Clean kept serials %q, %q", hw.MemoryModules[0].Serial, hw.MemoryModules[1].Serial)
	}
}

func TestParseSMBIOSMemoryOldLayouts(t *testing.T) {
	var tab []byte
	// SMBIOS 2.1: no speed, no strings past the bank; no type 16.
	tab = append(tab, memDevice{length: 0x15, handle: 1, array: 0x10, size: 256, memType: 0x0f, locator: "DIMM0", bank: "BANK0",
		maker: "ignored: past the structure"}.bytes()...)
	// SMBIOS 2.3: speed and strings, no extended size.
	tab = append(tab, memDevice{length: 0x1b, handle: 2, array: 0x10, size: 0x7fff, memType: 0x12, speed: 400, locator: "DIMM1",
		maker: "Infineon", part: "HYS64D32300HU-5-C"}.bytes()...)
	// SMBIOS 2.8 with an unknown size.
	tab = append(tab, memDevice{length: 0x28, handle: 3, array: 0x10, size: 0xffff, memType: 0x18, speed: 1600, configured: 1333,
		locator: "ChannelA-DIMM0", bank: "BANK 0"}.bytes()...)
	tab = append(tab, endOfTable()...)
	m, err := ParseSMBIOSMemory(tab)
	if err != nil {
		t.Fatal(err)
	}
	want := []wire.MemoryModule{
		{Locator: "DIMM0", Bank: "BANK0", SizeBytes: 256 << 20, Type: "SDRAM"},
		{Locator: "DIMM1", SizeBytes: 32767 << 20, Type: "DDR", SpeedMTs: 400, Manufacturer: "Infineon", PartNumber: "HYS64D32300HU-5-C"},
		{Locator: "ChannelA-DIMM0", Bank: "BANK 0", Type: "DDR3", SpeedMTs: 1600, ConfiguredSpeedMTs: 1333},
	}
	if !reflect.DeepEqual(m.Modules, want) || m.Slots != 3 || m.MaxBytes != 0 {
		t.Errorf("ParseSMBIOSMemory = %+v, want %+v in 3 slots", m, want)
	}
}

func TestParseSMBIOSMemoryCorrupt(t *testing.T) {
	good := workstationTable()
	tests := []struct {
		name, wantErr string
		table         []byte
	}{
		{"empty", "empty", nil},
		{"zero length", "claims a length of 2", []byte{17, 2, 0, 0, 0, 0}},
		{"unterminated strings", "unterminated strings", append(smbiosStructure(1, 1, make([]byte, 4)), 17, 5, 0, 0, 1, 'x', 0)},
		{"truncated formatted area", "runs past the end", good[:len(good)-len(endOfTable())-40]},
		{"short header", "a header takes 4", append(append([]byte(nil), good[:len(good)-len(endOfTable())]...), 17, 0x5c)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseSMBIOSMemory(tc.table)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ParseSMBIOSMemory error = %v, want %q", err, tc.wantErr)
			}
			for _, mod := range m.Modules {
				if mod.Locator == "SPI flash" {
					t.Errorf("listed the flash array's device: %+v", mod)
				}
			}
		})
	}
	// Cut anywhere, the table gives the modules before the cut, whole.
	full, _ := ParseSMBIOSMemory(good)
	for n := range len(good) {
		m, _ := ParseSMBIOSMemory(good[:n])
		if len(m.Modules) > len(full.Modules) || len(m.Modules) > 0 && !reflect.DeepEqual(m.Modules, full.Modules[:len(m.Modules)]) {
			t.Fatalf("cut at %d: %+v", n, m.Modules)
		}
	}
}

// smbios3EntryPoint and smbios2EntryPoint build the entry points the
// kernel copies to /sys/firmware/dmi/tables/smbios_entry_point.
func smbios3EntryPoint(major, minor byte, maxLen uint32) []byte {
	b := make([]byte, 0x18)
	copy(b, "_SM3_")
	b[6], b[7], b[8], b[0x0a] = 0x18, major, minor, 0x01
	binary.LittleEndian.PutUint32(b[0x0c:], maxLen)
	binary.LittleEndian.PutUint64(b[0x10:], 0x7a8f0000)
	b[5] = -checksum(b)
	return b
}

func smbios2EntryPoint(major, minor byte, length uint16) []byte {
	b := make([]byte, 0x1f)
	copy(b, "_SM_")
	b[5], b[6], b[7] = 0x1f, major, minor
	binary.LittleEndian.PutUint16(b[8:], 0x5c)
	copy(b[0x10:], "_DMI_")
	binary.LittleEndian.PutUint16(b[0x16:], length)
	binary.LittleEndian.PutUint32(b[0x18:], 0x000e_a000)
	binary.LittleEndian.PutUint16(b[0x1c:], 12)
	b[0x1e] = major<<4 | minor
	b[0x15] = -checksum(b[0x10:0x1f])
	b[4] = -checksum(b)
	return b
}

func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

func TestParseSMBIOSEntryPoint(t *testing.T) {
	if ep, err := ParseSMBIOSEntryPoint(smbios3EntryPoint(3, 5, 4096)); err != nil || ep != (SMBIOSEntryPoint{3, 5, 4096}) {
		t.Errorf("ParseSMBIOSEntryPoint(3.5) = %+v, %v", ep, err)
	}
	if ep, err := ParseSMBIOSEntryPoint(smbios2EntryPoint(2, 8, 3011)); err != nil || ep != (SMBIOSEntryPoint{2, 8, 3011}) {
		t.Errorf("ParseSMBIOSEntryPoint(2.8) = %+v, %v", ep, err)
	}
	bad := smbios3EntryPoint(3, 0, 100)
	bad[0x0c]++
	for name, b := range map[string][]byte{"checksum": bad, "short": smbios2EntryPoint(2, 7, 10)[:20], "anchor": []byte("_DMI_ and nothing")} {
		if _, err := ParseSMBIOSEntryPoint(b); err == nil {
			t.Errorf("ParseSMBIOSEntryPoint(%s) accepted %x", name, b)
		}
	}
}

func TestReadSysFSMemory(t *testing.T) {
	const dir = "sys/firmware/dmi/tables/"
	table := workstationTable()
	fsys := fstest.MapFS{
		dir + "DMI":                {Data: table},
		dir + "smbios_entry_point": {Data: smbios3EntryPoint(3, 3, uint32(len(table)))},
		"sys/block/vda/size":       {Data: []byte("2048\n")},
	}
	hw, errs := ReadSysFS(fsys)
	if len(errs) != 0 || len(hw.MemoryModules) != 3 || hw.MemorySlots != 4 || hw.MemoryMaxBytes != 256<<30 || len(hw.Disks) != 1 {
		t.Errorf("ReadSysFS = %+v, %v", hw, errs)
	}

	// Without root: unavailable, with the reason; the rest is read.
	hw, errs = ReadSysFS(denyFS{FS: fsys, deny: map[string]bool{dir + "DMI": true}})
	if len(errs) != 1 || !source.IsUnavailable(errs[0]) || !strings.Contains(errs[0].Error(), "root only") ||
		hw.MemoryModules != nil || len(hw.Disks) != 1 {
		t.Errorf("ReadSysFS(no root) = %+v, %v", hw, errs)
	}

	// A table cut short of what a 2.x entry point says.
	fsys[dir+"smbios_entry_point"] = &fstest.MapFile{Data: smbios2EntryPoint(2, 8, uint16(len(table)+200))}
	hw, errs = ReadSysFS(fsys)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "truncated") || len(hw.MemoryModules) != 3 || len(hw.Disks) != 1 {
		t.Errorf("ReadSysFS(truncated) = %+v, %v", hw, errs)
	}

	// A corrupt table costs the memory modules only.
	fsys[dir+"DMI"] = &fstest.MapFile{Data: table[:30]}
	fsys[dir+"smbios_entry_point"] = &fstest.MapFile{Data: []byte("garbage")}
	hw, errs = ReadSysFS(fsys)
	var se *source.Error
	if len(errs) != 2 || !errors.As(errs[0], &se) || se.Source != SourceMemory || !errors.As(errs[1], &se) || se.Source != SourceMemory ||
		len(hw.Disks) != 1 || source.IsUnavailable(errs[0]) {
		t.Errorf("ReadSysFS(corrupt) = %+v, %v", hw, errs)
	}
}

func FuzzParseSMBIOSMemory(f *testing.F) {
	f.Add(workstationTable())
	for _, p := range []string{"testdata/smbios/qemu-q35/sys/firmware/dmi/tables/DMI", "testdata/smbios/qemu-pc/sys/firmware/dmi/tables/DMI"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add(memDevice{length: 0x1b, size: 0x7fff, memType: 0x12, speed: 400, locator: "DIMM1"}.bytes())
	f.Add(append(memArray{handle: 1, use: 3, maxKiB: 0x8000_0000, extMax: 1 << 40, devices: 2}.bytes(), endOfTable()...))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _ := ParseSMBIOSMemory(b)
		if len(m.Modules) > len(b)/0x15 {
			t.Fatalf("%d modules from %d bytes", len(m.Modules), len(b))
		}
	})
}

func FuzzParseSMBIOSEntryPoint(f *testing.F) {
	f.Add(smbios3EntryPoint(3, 3, 4096))
	f.Add(smbios2EntryPoint(2, 7, 2000))
	for _, p := range []string{"testdata/smbios/qemu-q35/sys/firmware/dmi/tables/smbios_entry_point", "testdata/smbios/qemu-pc/sys/firmware/dmi/tables/smbios_entry_point"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if ep, err := ParseSMBIOSEntryPoint(b); err == nil && ep.Major == 0 && ep.TableLen < 0 {
			t.Fatalf("%+v", ep)
		}
	})
}

// dmidecodeModules reads the "Memory Device" blocks of dmidecode's text
// output into modules, as this package reports them: dmidecode is the
// reference reader of SMBIOS tables.
func dmidecodeModules(t *testing.T, path string) []wire.MemoryModule {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []wire.MemoryModule
	for _, block := range strings.Split(string(b), "\n\n") {
		if !strings.Contains(block, "\nMemory Device\n") {
			continue
		}
		kv := map[string]string{}
		for l := range strings.Lines(block) {
			k, v, ok := strings.Cut(strings.TrimSpace(l), ": ")
			if ok && v != "Not Specified" && v != "Unknown" {
				kv[k] = v
			}
		}
		if kv["Size"] == "No Module Installed" {
			continue
		}
		var size uint64
		var unit string
		if _, err := fmt.Sscanf(kv["Size"], "%d %s", &size, &unit); err != nil {
			t.Fatalf("size %q: %v", kv["Size"], err)
		}
		size <<= map[string]int{"kB": 10, "MB": 20, "GB": 30, "TB": 40}[unit]
		speed := func(s string) int {
			n, _ := strconv.Atoi(strings.TrimSuffix(s, " MT/s"))
			return n
		}
		out = append(out, wire.MemoryModule{Locator: kv["Locator"], Bank: kv["Bank Locator"], SizeBytes: size, Type: kv["Type"],
			SpeedMTs: speed(kv["Speed"]), ConfiguredSpeedMTs: speed(kv["Configured Memory Speed"]), Manufacturer: kv["Manufacturer"],
			Serial: kv["Serial Number"], PartNumber: kv["Part Number"]})
	}
	return out
}

// TestReadSysFSQEMU reads the tables QEMU guests had in /sys (see
// testdata/smbios/make.sh) and compares them to what dmidecode read.
func TestReadSysFSQEMU(t *testing.T) {
	for _, tc := range []struct {
		name     string
		slots    int
		maxBytes uint64
	}{{"qemu-q35", 2, 17 << 30}, {"qemu-pc", 1, 2 << 30}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata/smbios", tc.name)
			hw, errs := ReadSysFS(os.DirFS(dir))
			if len(errs) != 0 {
				t.Fatalf("ReadSysFS errors: %v", errs)
			}
			want := dmidecodeModules(t, filepath.Join(dir, "dmidecode.txt"))
			if len(want) == 0 || !reflect.DeepEqual(hw.MemoryModules, want) || hw.MemorySlots != tc.slots || hw.MemoryMaxBytes != tc.maxBytes {
				t.Errorf("ReadSysFS = %+v in %d slots, max %d\ndmidecode: %+v in %d slots, max %d", hw.MemoryModules, hw.MemorySlots,
					hw.MemoryMaxBytes, want, tc.slots, tc.maxBytes)
			}
		})
	}
}
