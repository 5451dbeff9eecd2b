package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// The sources of software packages. A collector must accept a source it does
// not know: later agents add package managers.
const (
	SourceDpkg           = "dpkg"
	SourceRPM            = "rpm"
	SourceAPK            = "apk"
	SourcePacman         = "pacman"
	SourceSnap           = "snap"
	SourceFlatpak        = "flatpak"
	SourceWindowsProgram = "windows-registry" // the Uninstall keys
	SourceWindowsHotfix  = "windows-hotfix"
	SourceMacApp         = "macos-app"
	SourceMacPkg         = "macos-pkg" // pkgutil receipts
	SourceHomebrew       = "homebrew"
)

// Package is one installed piece of software.
type Package struct {
	Name string `json:"name"`
	// Version is the package manager's full version: epoch:version-release
	// for rpm, the Debian version for dpkg, DisplayVersion on Windows, the
	// KB number's revision for a hotfix (often empty).
	Version   string `json:"version,omitempty"`
	Publisher string `json:"publisher,omitempty"` // vendor, maintainer or packager
	Arch      string `json:"arch,omitempty"`
	// Source is the package manager or registry it was read from: one of
	// the Source constants.
	Source string `json:"source"`
	// InstallDate is when the package was installed or last updated, when
	// the source records it.
	InstallDate time.Time `json:"install_date,omitzero"`
	SizeBytes   uint64    `json:"size_bytes,omitempty"`
	// ID is the source's own identifier when it differs from Name: a
	// macOS bundle id, a Windows product code or Uninstall key name, a
	// flatpak ref.
	ID string `json:"id,omitempty"`
	// Location is where it is installed, when the source says.
	Location string `json:"location,omitempty"`
	// Scope is "user:<name or SID>" for a per-user install, empty for the
	// whole machine.
	Scope string `json:"scope,omitempty"`
}

// Key identifies a package within one host's inventory: two entries with
// the same key are the same package (perhaps at another version).
func (p Package) Key() PackageKey {
	id := p.ID
	if id == "" {
		id = p.Name
	}
	return PackageKey{Source: p.Source, ID: id, Arch: p.Arch, Scope: p.Scope}
}

// PackageKey identifies a package without its version.
type PackageKey struct {
	Source string `json:"source"`
	ID     string `json:"id"` // Package.ID, or its Name when it has no ID
	Arch   string `json:"arch,omitempty"`
	Scope  string `json:"scope,omitempty"`
}

// SoftwareDelta is the change of a host's software since an inventory the
// collector already has. Applying it to that inventory's software gives
// the current list; BaseDigest and Digest (see SoftwareDigest) let the
// collector check both ends, and ask for a full inventory when its base
// differs.
type SoftwareDelta struct {
	BaseReportID string       `json:"base_report_id"`
	BaseDigest   string       `json:"base_digest"`
	Digest       string       `json:"digest"`
	Added        []Package    `json:"added,omitempty"`
	Changed      []Package    `json:"changed,omitempty"` // same key, new version or details
	Removed      []PackageKey `json:"removed,omitempty"`
}

func validateSoftware(v *validator, pkgs []Package, d *SoftwareDelta) {
	if v.count("inventory.software", len(pkgs), v.lim.MaxPackages) {
		for i, p := range pkgs {
			if !v.packageOK(p) {
				validatePackage(v, fmt.Sprintf("inventory.software[%d]", i), p)
			}
		}
	}
	if d == nil {
		return
	}
	if len(pkgs) > 0 {
		v.addf("inventory has both software and software_delta")
	}
	if d.BaseReportID != "" {
		v.id("inventory.software_delta.base_report_id", d.BaseReportID)
	}
	v.digest("inventory.software_delta.base_digest", d.BaseDigest)
	v.digest("inventory.software_delta.digest", d.Digest)
	if v.count("inventory.software_delta", len(d.Added)+len(d.Changed)+len(d.Removed), v.lim.MaxPackages) {
		for i, p := range d.Added {
			if !v.packageOK(p) {
				validatePackage(v, fmt.Sprintf("inventory.software_delta.added[%d]", i), p)
			}
		}
		for i, p := range d.Changed {
			if !v.packageOK(p) {
				validatePackage(v, fmt.Sprintf("inventory.software_delta.changed[%d]", i), p)
			}
		}
		for i, k := range d.Removed {
			p := fmt.Sprintf("inventory.software_delta.removed[%d]", i)
			v.token(p+".source", k.Source, true)
			if k.ID == "" {
				v.addf("%s.id is missing", p)
			}
			v.strs(p, "id", k.ID, "arch", k.Arch, "scope", k.Scope)
		}
	}
}

// packageOK reports whether validatePackage finds nothing wrong with pkg.
// It is checked first, so that the field names of the messages are only
// made for a package that has a problem: a report holds thousands.
func (v *validator) packageOK(pkg Package) bool {
	m := v.lim.MaxStringLen
	return pkg.Name != "" && tokenOK(pkg.Source) &&
		len(pkg.Name) <= m && len(pkg.Version) <= m && len(pkg.Publisher) <= m && len(pkg.Arch) <= m &&
		len(pkg.ID) <= m && len(pkg.Location) <= m && len(pkg.Scope) <= m
}

func validatePackage(v *validator, p string, pkg Package) {
	if pkg.Name == "" {
		v.addf("%s.name is missing", p)
	}
	v.token(p+".source", pkg.Source, true)
	v.strs(p, "name", pkg.Name, "version", pkg.Version, "publisher", pkg.Publisher, "arch", pkg.Arch,
		"id", pkg.ID, "location", pkg.Location, "scope", pkg.Scope)
}

// digest checks a hex SHA-256.
func (v *validator) digest(field, s string) {
	if len(s) != 64 {
		v.addf("%s is not a SHA-256 in hex", field)
		return
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			v.addf("%s is not a SHA-256 in hex", field)
			return
		}
	}
}

// SoftwareDigest is the hex SHA-256 of a software list's keys and versions,
// independent of order: the agent and the collector compute it alike to
// check that a delta applies to the list the collector holds.
func SoftwareDigest(pkgs []Package) string {
	// The lines "source\0id\0arch\0scope\0version\n", sorted, hashed in
	// order: written into one buffer and sorted by their places in it.
	size := 0
	for i := range pkgs {
		k := pkgs[i].Key()
		size += len(k.Source) + len(k.ID) + len(k.Arch) + len(k.Scope) + len(pkgs[i].Version) + 5
	}
	buf := make([]byte, 0, size)
	spans := make([][2]int, len(pkgs))
	for i := range pkgs {
		k, start := pkgs[i].Key(), len(buf)
		for _, f := range [...]string{k.Source, k.ID, k.Arch, k.Scope} {
			buf = append(append(buf, f...), 0)
		}
		buf = append(append(buf, pkgs[i].Version...), '\n')
		spans[i] = [2]int{start, len(buf)}
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return bytes.Compare(buf[a[0]:a[1]], buf[b[0]:b[1]]) })
	h := sha256.New()
	for _, sp := range spans {
		h.Write(buf[sp[0]:sp[1]])
	}
	return hex.EncodeToString(h.Sum(nil))
}
