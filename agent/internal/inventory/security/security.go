// Package security reads a host's security posture: disk encryption,
// host firewalls and anti-malware products.
//
// Linux: dm-crypt mappings (/sys/class/block/*/dm/uuid) and /etc/crypttab;
// nftables (nft list ruleset), iptables (/proc/net/ip_tables_names and
// iptables-save), ufw and firewalld configuration; known anti-malware by
// its files and running processes. Windows: BitLocker
// (Win32_EncryptableVolume), the firewall profiles in the registry,
// SecurityCenter2's AntiVirusProduct (Defender's MSFT_MpComputerStatus on
// servers, which lack it). macOS: FileVault (fdesetup status), the
// application firewall (com.apple.alf) and XProtect.
//
// The OS files only fetch bytes; every parser is portable and tested on
// Linux from fixtures of each OS.
package security

import (
	"context"

	"github.com/umbrasec/umbra/shared/wire"
)

// Sources named in errors.
const (
	SourceEncryption = "security.encryption"
	SourceFirewall   = "security.firewall"
	SourceAntivirus  = "security.antivirus"
)

// Collect reads this host's security posture. Each error is a
// *source.Error; a failed source costs only itself.
func Collect(ctx context.Context) (*wire.Security, []error) {
	return collect(ctx)
}
