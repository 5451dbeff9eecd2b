package hardware

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/umbrasec/umbra/shared/wire"
)

var edidHeader = []byte{0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0}

// ParseEDID reads the base block of a monitor's EDID (VESA E-EDID 1.3/1.4):
// the PNP maker id, product code, serial (the serial string descriptor,
// else the 32-bit serial number), week and year of manufacture, size, and
// the display name descriptor.
func ParseEDID(b []byte) (wire.Monitor, error) {
	var m wire.Monitor
	if len(b) < 128 {
		return m, fmt.Errorf("EDID is %d bytes, want at least 128", len(b))
	}
	if !bytes.Equal(b[:8], edidHeader) {
		return m, errors.New("EDID header missing")
	}
	var sum byte
	for _, c := range b[:128] {
		sum += c
	}
	if sum != 0 {
		return m, errors.New("EDID checksum mismatch")
	}
	id := uint16(b[8])<<8 | uint16(b[9])
	for _, sh := range []uint{10, 5, 0} {
		c := byte(id>>sh) & 0x1f
		if c < 1 || c > 26 {
			return m, fmt.Errorf("EDID maker id %#04x is not three letters", id)
		}
		m.Maker += string(rune('A' + c - 1))
	}
	m.ProductCode = fmt.Sprintf("%04x", uint16(b[11])<<8|uint16(b[10]))
	if sn := uint32(b[12]) | uint32(b[13])<<8 | uint32(b[14])<<16 | uint32(b[15])<<24; sn != 0 && sn != 0x01010101 {
		m.Serial = fmt.Sprint(sn)
	}
	if w := int(b[16]); w >= 1 && w <= 54 {
		m.Week = w
	}
	if b[17] > 0 && b[17] != 0xff {
		m.Year = 1990 + int(b[17])
	}
	m.WidthCm, m.HeightCm = int(b[21]), int(b[22])
	for off := 54; off+18 <= 126; off += 18 {
		d := b[off : off+18]
		if d[0] != 0 || d[1] != 0 {
			continue // a detailed timing
		}
		text := strings.TrimRight(string(bytes.SplitN(d[5:18], []byte{'\n'}, 2)[0]), " \x00")
		text = strings.Map(func(r rune) rune {
			if r < 0x20 || r > 0x7e {
				return -1
			}
			return r
		}, text)
		switch d[3] {
		case 0xff:
			if text != "" {
				m.Serial = text
			}
		case 0xfc:
			m.Model = text
		}
	}
	return m, nil
}
