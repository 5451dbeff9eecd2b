package hardware

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/umbrasec/umbra/shared/wire"
)

// SMBIOS structure types this file reads (DMTF DSP0134 3.x, §7).
const (
	smbiosMemoryArray  = 16  // Physical Memory Array
	smbiosMemoryDevice = 17  // Memory Device
	smbiosEndOfTable   = 127 // End-of-Table
)

// SMBIOSMemory is what the SMBIOS structure table says about memory.
type SMBIOSMemory struct {
	// Modules are the populated slots.
	Modules []wire.MemoryModule
	// Slots counts the slots of the system memory arrays, populated or
	// not, and MaxBytes adds up their maximum capacity; 0 when unknown.
	Slots    int
	MaxBytes uint64
}

// SMBIOSEntryPoint is the part of the SMBIOS entry point
// (/sys/firmware/dmi/tables/smbios_entry_point) that tells how to read
// the table.
type SMBIOSEntryPoint struct {
	Major, Minor int
	// TableLen is the table's length (2.x) or its maximum length (3.x).
	TableLen int
}

// ParseSMBIOSEntryPoint reads a 32-bit ("_SM_", SMBIOS 2.x) or 64-bit
// ("_SM3_", SMBIOS 3.x) entry point structure and checks its checksum.
func ParseSMBIOSEntryPoint(b []byte) (SMBIOSEntryPoint, error) {
	var ep SMBIOSEntryPoint
	sum := func(p []byte) byte {
		var s byte
		for _, c := range p {
			s += c
		}
		return s
	}
	switch {
	case bytes.HasPrefix(b, []byte("_SM3_")):
		if len(b) < 0x18 || int(b[6]) < 0x18 || int(b[6]) > len(b) {
			return ep, fmt.Errorf("64-bit entry point is %d bytes, want 24", len(b))
		}
		if sum(b[:b[6]]) != 0 {
			return ep, errors.New("64-bit entry point checksum mismatch")
		}
		ep.Major, ep.Minor = int(b[7]), int(b[8])
		ep.TableLen = int(binary.LittleEndian.Uint32(b[0x0c:]))
	case bytes.HasPrefix(b, []byte("_SM_")):
		// The length is 1Fh; SMBIOS 2.1 said 1Eh by mistake, and some
		// firmware followed it.
		if len(b) < 0x1f || int(b[5]) < 0x1e || int(b[5]) > len(b) {
			return ep, fmt.Errorf("32-bit entry point is %d bytes, want 31", len(b))
		}
		if sum(b[:b[5]]) != 0 || string(b[0x10:0x15]) != "_DMI_" || sum(b[0x10:0x1f]) != 0 {
			return ep, errors.New("32-bit entry point checksum mismatch")
		}
		ep.Major, ep.Minor = int(b[6]), int(b[7])
		ep.TableLen = int(binary.LittleEndian.Uint16(b[0x16:]))
	default:
		return ep, errors.New("no _SM_ or _SM3_ anchor")
	}
	return ep, nil
}

// smbiosStruct is one structure of the table: its formatted area (header
// included) and its strings.
type smbiosStruct struct {
	typ     byte
	handle  uint16
	f       []byte
	strings []string
}

// str returns the string the byte at off of the formatted area refers to,
// or "" when the field is absent, 0 (no string) or out of range.
func (s smbiosStruct) str(off int) string {
	if off >= len(s.f) {
		return ""
	}
	i := int(s.f[off])
	if i == 0 || i > len(s.strings) {
		return ""
	}
	return s.strings[i-1]
}

func (s smbiosStruct) u8(off int) (byte, bool) {
	if off+1 > len(s.f) {
		return 0, false
	}
	return s.f[off], true
}

func (s smbiosStruct) u16(off int) (uint16, bool) {
	if off+2 > len(s.f) {
		return 0, false
	}
	return binary.LittleEndian.Uint16(s.f[off:]), true
}

func (s smbiosStruct) u32(off int) (uint32, bool) {
	if off+4 > len(s.f) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(s.f[off:]), true
}

func (s smbiosStruct) u64(off int) (uint64, bool) {
	if off+8 > len(s.f) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(s.f[off:]), true
}

// walkSMBIOS splits a structure table (/sys/firmware/dmi/tables/DMI)
// into structures, stopping at the End-of-Table structure or the end of
// the data. A structure that runs past the end stops the walk with an
// error; the structures before it are returned.
func walkSMBIOS(t []byte) ([]smbiosStruct, error) {
	var out []smbiosStruct
	for off := 0; off < len(t); {
		if len(t)-off < 4 {
			if allZero(t[off:]) {
				break // padding
			}
			return out, fmt.Errorf("structure at offset %d: %d bytes left, a header takes 4", off, len(t)-off)
		}
		typ, n := t[off], int(t[off+1])
		if n < 4 {
			return out, fmt.Errorf("structure at offset %d (type %d) claims a length of %d", off, typ, n)
		}
		if off+n > len(t) {
			return out, fmt.Errorf("structure at offset %d (type %d) runs past the end of the table", off, typ)
		}
		s := smbiosStruct{typ: typ, handle: binary.LittleEndian.Uint16(t[off+2:]), f: t[off : off+n]}
		// The strings follow, each NUL-terminated, the set ended by a
		// second NUL (two NULs when there are none).
		end := bytes.Index(t[off+n:], []byte{0, 0})
		if end < 0 {
			return out, fmt.Errorf("structure at offset %d (type %d) has unterminated strings", off, typ)
		}
		if area := t[off+n : off+n+end]; len(area) > 0 {
			for _, raw := range bytes.Split(area, []byte{0}) {
				s.strings = append(s.strings, smbiosString(raw))
			}
		}
		out = append(out, s)
		off += n + end + 2
		if typ == smbiosEndOfTable {
			break
		}
	}
	return out, nil
}

// smbiosString trims a string of the table; DSP0134 3.x strings are
// UTF-8, older firmware writes ASCII or a code page, whose bytes are
// replaced.
func smbiosString(b []byte) string {
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.TrimSpace(s)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Memory array uses (type 16, offset 05h).
const smbiosUseSystemMemory = 3

// ParseSMBIOSMemory reads the memory arrays (type 16) and memory devices
// (type 17) of an SMBIOS structure table. Empty slots are counted in
// Slots, not listed; the arrays that are not system memory (video,
// flash, cache) are left out. On a corrupt table it returns what precedes
// the damage and an error.
func ParseSMBIOSMemory(table []byte) (SMBIOSMemory, error) {
	var m SMBIOSMemory
	structs, err := walkSMBIOS(table)
	if len(structs) == 0 && err == nil {
		return m, errors.New("empty structure table")
	}
	other := map[uint16]bool{} // handles of arrays that are not system memory
	arraySlots := 0
	devices := 0
	for _, s := range structs {
		if s.typ != smbiosMemoryArray {
			continue
		}
		use, ok := s.u8(0x05)
		if !ok {
			continue
		}
		if use != smbiosUseSystemMemory {
			other[s.handle] = true
			continue
		}
		if n, ok := s.u16(0x0d); ok {
			arraySlots += int(n)
		}
		// Maximum Capacity in KiB; 8000 0000h: see Extended Maximum
		// Capacity, in bytes (2.7+).
		if c, ok := s.u32(0x07); ok {
			if c == 0x8000_0000 {
				if x, ok := s.u64(0x0f); ok && x < 1<<62 {
					m.MaxBytes += x
				}
			} else {
				m.MaxBytes += uint64(c) << 10
			}
		}
	}
	for _, s := range structs {
		if s.typ != smbiosMemoryDevice || len(s.f) < 0x15 {
			continue // 0x15 bytes: the SMBIOS 2.1 structure
		}
		if arr, _ := s.u16(0x04); other[arr] {
			continue
		}
		devices++
		mod, ok := memoryDevice(s)
		if ok {
			m.Modules = append(m.Modules, mod)
		}
	}
	m.Slots = max(arraySlots, devices)
	return m, err
}

// memoryDevice reads a type 17 structure, and reports false for an empty
// slot.
func memoryDevice(s smbiosStruct) (wire.MemoryModule, bool) {
	mod := wire.MemoryModule{Locator: s.str(0x10), Bank: s.str(0x11)}
	size, _ := s.u16(0x0c)
	switch {
	case size == 0:
		return mod, false // no module installed
	case size == 0xffff:
		// unknown size
	case size == 0x7fff && len(s.f) >= 0x20:
		// 32 GiB or more: Extended Size, in MiB, bits 30:0 (2.7+).
		x, _ := s.u32(0x1c)
		mod.SizeBytes = uint64(x&0x7fff_ffff) << 20
	case size&0x8000 != 0:
		mod.SizeBytes = uint64(size&0x7fff) << 10 // KiB
	default:
		mod.SizeBytes = uint64(size) << 20 // MiB
	}
	if t, ok := s.u8(0x12); ok {
		mod.Type = SMBIOSMemoryType(int(t))
	}
	mod.SpeedMTs = smbiosSpeed(s, 0x15, 0x54)
	mod.ConfiguredSpeedMTs = smbiosSpeed(s, 0x20, 0x58)
	mod.Manufacturer = s.str(0x17)
	mod.Serial = s.str(0x18)
	mod.PartNumber = s.str(0x1a)
	return mod, true
}

// smbiosSpeed reads a speed word in MT/s, where FFFFh means the value is
// the dword at ext (SMBIOS 3.3) and 0 unknown.
func smbiosSpeed(s smbiosStruct, off, ext int) int {
	v, ok := s.u16(off)
	if !ok || v == 0 {
		return 0
	}
	if v != 0xffff {
		return int(v)
	}
	x, ok := s.u32(ext)
	if !ok {
		return 0
	}
	return int(x & 0x7fff_ffff)
}

// smbiosMemoryTypes name the SMBIOS memory types (type 17, offset 12h),
// as Linux dmidecode and Windows' SMBIOSMemoryType number them.
var smbiosMemoryTypes = map[int]string{
	0x03: "DRAM", 0x04: "EDRAM", 0x05: "VRAM", 0x06: "SRAM", 0x07: "RAM", 0x08: "ROM", 0x09: "Flash",
	0x0a: "EEPROM", 0x0b: "FEPROM", 0x0c: "EPROM", 0x0d: "CDRAM", 0x0e: "3DRAM", 0x0f: "SDRAM",
	0x10: "SGRAM", 0x11: "RDRAM", 0x12: "DDR", 0x13: "DDR2", 0x14: "DDR2 FB-DIMM", 0x18: "DDR3",
	0x19: "FBD2", 0x1a: "DDR4", 0x1b: "LPDDR", 0x1c: "LPDDR2", 0x1d: "LPDDR3", 0x1e: "LPDDR4",
	0x1f: "Logical non-volatile device", 0x20: "HBM", 0x21: "HBM2", 0x22: "DDR5", 0x23: "LPDDR5",
	0x24: "HBM3",
}

// SMBIOSMemoryType names an SMBIOS memory type number (0x1a → DDR4), or
// returns "" for Other, Unknown and numbers it does not know.
func SMBIOSMemoryType(t int) string {
	return smbiosMemoryTypes[t]
}
