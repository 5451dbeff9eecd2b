// Package ident holds the identity rules that the agent and the collector must
// agree on: how a MAC address is written, which MACs are randomised, and which
// serial numbers and UUIDs are placeholders that must never identify a device.
package ident

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// MAC is a 48-bit hardware address.
type MAC [6]byte

// ParseMAC accepts the usual spellings of a 48-bit MAC (00:11:22:aa:bb:cc,
// 00-11-22-AA-BB-CC, 0011.22aa.bbcc) and nothing longer.
func ParseMAC(s string) (MAC, error) {
	var m MAC
	hw, err := net.ParseMAC(s)
	if err != nil {
		return m, fmt.Errorf("%q is not a MAC address", trunc(s))
	}
	if len(hw) != 6 {
		return m, fmt.Errorf("%q is not a 48-bit MAC address", trunc(s))
	}
	copy(m[:], hw)
	return m, nil
}

// NormalizeMAC returns s in the canonical form 00:11:22:aa:bb:cc.
func NormalizeMAC(s string) (string, error) {
	m, err := ParseMAC(s)
	if err != nil {
		return "", err
	}
	return m.String(), nil
}

func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// IsMulticast reports whether the group bit is set.
func (m MAC) IsMulticast() bool { return m[0]&0x01 != 0 }

// IsLocallyAdministered reports whether the U/L bit is set: such MACs are
// assigned by software (randomised Wi-Fi MACs, VMs, containers) and are not a
// stable identity.
func (m MAC) IsLocallyAdministered() bool { return m[0]&0x02 != 0 }

// IsIdentity reports whether m may identify a device: globally administered,
// unicast and not all zeros or ones.
func (m MAC) IsIdentity() bool {
	return !m.IsZero() && !m.IsMulticast() && !m.IsLocallyAdministered() && m != MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
}

// ErrPlaceholder is returned by CleanIdentifier for a value that vendors
// ship in place of a real one.
var ErrPlaceholder = errors.New("placeholder value")

// placeholders are values firmware ships instead of a real serial or UUID,
// compared after normalising (lower case, no spaces or punctuation).
var placeholders = map[string]bool{}

func init() {
	for _, s := range []string{
		"To be filled by O.E.M.", "To Be Filled By O.E.M.", "Default string",
		"System Serial Number", "System Product Name", "Not Specified",
		"Not Applicable", "None", "N/A", "NA", "Unknown", "Undefined", "Invalid",
		"0", "00000000", "0000000000", "123456789", "1234567890", "Chassis Serial Number",
		"Base Board Serial Number", "Serial Number", "SerialNumber", "OEM", "O.E.M.",
		"Type1ProductConfigId", "Not Available", "No Asset Tag", "Asset Tag",
		"No Asset Information", "Default", "XXXXXXXX", "Empty",
		// VM images and vendors known to ship duplicate UUIDs.
		"03000200-0400-0500-0006-000700080009",
		"00020003-0004-0005-0006-000700080009",
		"12345678-1234-5678-90ab-cddeefaabbcc",
	} {
		placeholders[squash(s)] = true
	}
}

// squash lower-cases s and drops everything but letters and digits.
func squash(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// IsPlaceholder reports whether a serial number, asset tag or UUID is one
// of the values that firmware ships instead of a real one, or is made of a
// single repeated character (all zeros, all F).
func IsPlaceholder(s string) bool {
	q := squash(s)
	if q == "" || placeholders[q] {
		return true
	}
	if strings.Trim(q, q[:1]) == "" {
		return true // 0000…, ffff…, xxxx…
	}
	return false
}

// CleanIdentifier trims s and returns it, or ErrPlaceholder if it must not
// be used as an identity.
func CleanIdentifier(s string) (string, error) {
	s = strings.TrimSpace(s)
	if IsPlaceholder(s) {
		return "", fmt.Errorf("%q: %w", trunc(s), ErrPlaceholder)
	}
	return s, nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
