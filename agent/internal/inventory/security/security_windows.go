package security

import (
	"context"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
	"github.com/yusufpapurcu/wmi"
	"golang.org/x/sys/windows/registry"
)

func collect(ctx context.Context) (*wire.Security, []error) {
	sec := &wire.Security{}
	var errs []error

	var vols []WinEncryptableVolume
	if err := wmi.Query("SELECT DeviceID, DriveLetter, ProtectionStatus, ConversionStatus, EncryptionMethod FROM Win32_EncryptableVolume",
		&vols, nil, `root\CIMV2\Security\MicrosoftVolumeEncryption`); err != nil {
		// Only administrators may read this namespace; Home editions lack it.
		errs = append(errs, source.Errorf(SourceEncryption, "BitLocker (Win32_EncryptableVolume): %v: %w", err, source.ErrUnavailable))
	} else {
		sec.Encryption = FromBitLocker(vols)
	}

	var profiles []WinFirewallProfile
	for _, k := range WinFirewallKeys {
		profiles = append(profiles, WinFirewallProfile{
			Name:    k.Name,
			Enabled: dword(`SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\` + k.Local),
			Policy:  dword(`SOFTWARE\Policies\Microsoft\WindowsFirewall\` + k.Policy),
		})
	}
	sec.Firewalls = FromWindowsFirewall(profiles)

	if ctx.Err() != nil {
		return sec, errs
	}
	var avs []WinAntiVirusProduct
	scErr := wmi.Query("SELECT DisplayName, ProductState, PathToSignedProductExe FROM AntiVirusProduct", &avs, nil, `root\SecurityCenter2`)
	if scErr == nil {
		sec.Antivirus = FromSecurityCenter(avs)
	}
	if scErr != nil || len(avs) == 0 {
		// Windows Server has no Security Center: ask Defender itself.
		var st []WinDefenderStatus
		err := wmi.Query("SELECT AntivirusEnabled, RealTimeProtectionEnabled, AntivirusSignatureAge, AMProductVersion FROM MSFT_MpComputerStatus",
			&st, nil, `root\Microsoft\Windows\Defender`)
		switch {
		case err == nil && len(st) > 0:
			sec.Antivirus = append(sec.Antivirus, FromDefender(st[0]))
		case scErr != nil:
			errs = append(errs, source.Errorf(SourceAntivirus, "SecurityCenter2: %v; Defender: %w", scErr, err))
		}
	}
	return sec, errs
}

// dword reads EnableFirewall under an HKLM key, or -1.
func dword(path string) int {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return -1
	}
	defer k.Close()
	v, _, err := k.GetIntegerValue("EnableFirewall")
	if err != nil {
		return -1
	}
	return int(v)
}
