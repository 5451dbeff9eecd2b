package wire

import "fmt"

// Security is the host's security posture, as far as it can be read. A
// list is empty when nothing was found or nothing could be read; the
// inventory's errors say which.
type Security struct {
	Encryption []VolumeEncryption `json:"encryption,omitempty"`
	Firewalls  []Firewall         `json:"firewalls,omitempty"`
	Antivirus  []Antivirus        `json:"antivirus,omitempty"`
}

// VolumeEncryption says whether one volume is encrypted at rest.
type VolumeEncryption struct {
	Volume    string `json:"volume"`           // /, C:, dm-0, the APFS volume
	Method    string `json:"method,omitempty"` // luks, bitlocker, filevault
	Encrypted bool   `json:"encrypted"`
	Status    string `json:"status,omitempty"` // the OS's own words
}

// Firewall is one host firewall and whether it is on.
type Firewall struct {
	Name    string `json:"name"` // nftables, ufw, firewalld, windows-domain, macos-alf
	Enabled bool   `json:"enabled"`
	Detail  string `json:"detail,omitempty"`
}

// Antivirus is one installed anti-malware product.
type Antivirus struct {
	Name     string `json:"name"`
	Enabled  bool   `json:"enabled"`
	UpToDate bool   `json:"up_to_date,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

func (s *Security) validate(v *validator) {
	if v.count("inventory.security.encryption", len(s.Encryption), v.lim.MaxPostureLen) {
		for i, e := range s.Encryption {
			p := fmt.Sprintf("inventory.security.encryption[%d]", i)
			if e.Volume == "" {
				v.addf("%s.volume is missing", p)
			}
			v.strs(p, "volume", e.Volume, "method", e.Method, "status", e.Status)
		}
	}
	if v.count("inventory.security.firewalls", len(s.Firewalls), v.lim.MaxPostureLen) {
		for i, f := range s.Firewalls {
			p := fmt.Sprintf("inventory.security.firewalls[%d]", i)
			if f.Name == "" {
				v.addf("%s.name is missing", p)
			}
			v.strs(p, "name", f.Name, "detail", f.Detail)
		}
	}
	if v.count("inventory.security.antivirus", len(s.Antivirus), v.lim.MaxPostureLen) {
		for i, a := range s.Antivirus {
			p := fmt.Sprintf("inventory.security.antivirus[%d]", i)
			if a.Name == "" {
				v.addf("%s.name is missing", p)
			}
			v.strs(p, "name", a.Name, "detail", a.Detail)
		}
	}
}
