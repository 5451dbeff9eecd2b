package security

import (
	"fmt"
	"strings"

	"github.com/umbrasec/umbra/shared/wire"
)

// WMI rows the Windows fetcher reads; the field names are the WMI
// property names.
type (
	// WinEncryptableVolume is a Win32_EncryptableVolume (namespace
	// root\CIMV2\Security\MicrosoftVolumeEncryption; administrators only).
	WinEncryptableVolume struct {
		DeviceID         string
		DriveLetter      string
		ProtectionStatus uint32 // 0 off, 1 on, 2 unknown (locked)
		ConversionStatus uint32 // 0 decrypted, 1 encrypted, 2 encrypting, 3 decrypting, 4 paused encrypting, 5 paused decrypting
		EncryptionMethod uint32
	}
	// WinAntiVirusProduct is a root\SecurityCenter2 AntiVirusProduct.
	WinAntiVirusProduct struct {
		DisplayName            string
		ProductState           uint32
		PathToSignedProductExe string
	}
	// WinDefenderStatus is Defender's MSFT_MpComputerStatus (namespace
	// root\Microsoft\Windows\Defender), read where SecurityCenter2 is
	// missing (Windows Server).
	WinDefenderStatus struct {
		AntivirusEnabled          bool
		RealTimeProtectionEnabled bool
		AntivirusSignatureAge     uint32 // days
		AMProductVersion          string
	}
)

// WinFirewallProfile is one profile of Windows Defender Firewall, read
// from the registry: EnableFirewall under
// SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\<Key>
// and, when a group policy sets it, under
// SOFTWARE\Policies\Microsoft\WindowsFirewall\<Policy key>. -1 means
// the value is absent.
type WinFirewallProfile struct {
	Name    string // domain, private, public
	Enabled int
	Policy  int
}

// WinFirewallKeys are the registry keys of each profile: local, policy.
var WinFirewallKeys = []struct{ Name, Local, Policy string }{
	{"domain", "DomainProfile", "DomainProfile"},
	{"private", "StandardProfile", "PrivateProfile"},
	{"public", "PublicProfile", "PublicProfile"},
}

// FromBitLocker turns encryptable volumes into encryption states.
func FromBitLocker(vols []WinEncryptableVolume) []wire.VolumeEncryption {
	out := make([]wire.VolumeEncryption, 0, len(vols))
	for _, v := range vols {
		name := v.DriveLetter
		if name == "" {
			name = v.DeviceID
		}
		e := wire.VolumeEncryption{Volume: name, Method: "bitlocker"}
		conv := map[uint32]string{0: "fully decrypted", 1: "fully encrypted", 2: "encrypting", 3: "decrypting", 4: "encryption paused", 5: "decryption paused"}[v.ConversionStatus]
		prot := map[uint32]string{0: "protection off", 1: "protection on", 2: "locked"}[v.ProtectionStatus]
		// Encrypted at rest means the data is encrypted and the key is
		// protected: "encrypted, protection off" (suspended) leaves the key
		// in the clear on the disk.
		e.Encrypted = v.ProtectionStatus == 1 || v.ProtectionStatus == 2 && v.ConversionStatus != 0
		e.Status = strings.Trim(conv+", "+prot, ", ")
		if m := bitlockerMethod(v.EncryptionMethod); m != "" && v.ConversionStatus != 0 {
			e.Status += ", " + m
		}
		out = append(out, e)
	}
	return out
}

func bitlockerMethod(m uint32) string {
	return map[uint32]string{1: "AES-128 diffuser", 2: "AES-256 diffuser", 3: "AES-128", 4: "AES-256", 5: "hardware", 6: "XTS-AES-128", 7: "XTS-AES-256"}[m]
}

// FromWindowsFirewall turns the profiles into firewalls: a group policy
// value overrides the local one.
func FromWindowsFirewall(profiles []WinFirewallProfile) []wire.Firewall {
	var out []wire.Firewall
	for _, p := range profiles {
		v, detail := p.Enabled, ""
		if p.Policy >= 0 {
			v, detail = p.Policy, "set by group policy"
		}
		if v < 0 {
			continue
		}
		out = append(out, wire.Firewall{Name: "windows-" + p.Name, Enabled: v != 0, Detail: detail})
	}
	return out
}

// FromSecurityCenter decodes AntiVirusProduct rows. productState is
// undocumented but stable since Windows Vista: its middle byte has 0x10
// set when real-time protection is on, its low byte is 0x00 when the
// signatures are current and 0x10 when they are out of date.
func FromSecurityCenter(rows []WinAntiVirusProduct) []wire.Antivirus {
	out := make([]wire.Antivirus, 0, len(rows))
	for _, r := range rows {
		st := r.ProductState
		out = append(out, wire.Antivirus{
			Name:     r.DisplayName,
			Enabled:  (st>>8)&0x10 != 0,
			UpToDate: st&0xff == 0,
			Detail:   fmt.Sprintf("productState 0x%06x; %s", st, r.PathToSignedProductExe),
		})
	}
	return out
}

// FromDefender turns Defender's own status into an antivirus entry.
func FromDefender(s WinDefenderStatus) wire.Antivirus {
	return wire.Antivirus{
		Name:     "Microsoft Defender Antivirus",
		Enabled:  s.AntivirusEnabled && s.RealTimeProtectionEnabled,
		UpToDate: s.AntivirusSignatureAge <= 7,
		Detail:   fmt.Sprintf("version %s; real-time protection %v; signatures %d days old", s.AMProductVersion, s.RealTimeProtectionEnabled, s.AntivirusSignatureAge),
	}
}
