package software

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/umbrasec/umbra/agent/internal/inventory/plist"
	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

// macAppDirs are searched for NAME.app bundles, one level deep (and one
// more for folders such as /Applications/Utilities).
var macAppDirs = []string{"Applications", "System/Applications", "Applications/Utilities", "System/Applications/Utilities"}

func readMacApps(root fs.FS) ([]wire.Package, []error) {
	var pkgs []wire.Package
	pe := parseErrors{src: wire.SourceMacApp}
	for _, dir := range macAppDirs {
		ents, err := fs.ReadDir(root, dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				pe.add(err)
			}
			continue
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".app") {
				continue
			}
			info := joinPath(dir, e.Name(), "Contents", "Info.plist")
			data, err := fs.ReadFile(root, info)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				pe.add(err)
				continue
			}
			p, err := ParseAppInfoPlist(data)
			if err != nil {
				pe.add(fmt.Errorf("/%s: %w", info, err))
				continue
			}
			if p.Name == "" {
				p.Name = strings.TrimSuffix(e.Name(), ".app")
			}
			p.Location = "/" + joinPath(dir, e.Name())
			if st, err := fs.Stat(root, joinPath(dir, e.Name())); err == nil {
				p.InstallDate = st.ModTime().UTC().Truncate(time.Second)
			}
			pkgs = append(pkgs, p)
		}
	}
	return pkgs, pe.list()
}

// ParseAppInfoPlist reads an application bundle's Contents/Info.plist, XML
// or binary.
func ParseAppInfoPlist(data []byte) (wire.Package, error) {
	d, err := plist.Dict(data)
	if err != nil {
		return wire.Package{}, err
	}
	p := wire.Package{Source: wire.SourceMacApp, ID: plist.String(d, "CFBundleIdentifier")}
	for _, k := range []string{"CFBundleDisplayName", "CFBundleName", "CFBundleExecutable"} {
		if p.Name = strings.TrimSpace(plist.String(d, k)); p.Name != "" {
			break
		}
	}
	p.Version = plist.String(d, "CFBundleShortVersionString")
	if p.Version == "" {
		p.Version = plist.String(d, "CFBundleVersion")
	}
	p.Publisher = publisherFromCopyright(plist.String(d, "NSHumanReadableCopyright"))
	return p, nil
}

// publisherFromCopyright takes "Copyright © 2024 Google LLC. All rights
// reserved." to "Google LLC".
func publisherFromCopyright(s string) string {
	s = strings.TrimSpace(s)
	for _, p := range []string{"Copyright", "©", "(c)", "(C)"} {
		s = strings.TrimSpace(strings.TrimPrefix(s, p))
	}
	// Drop years and ranges: 2009-2024, 2024,
	for len(s) > 0 && (s[0] >= '0' && s[0] <= '9' || s[0] == '-' || s[0] == ',' || s[0] == ' ' || strings.HasPrefix(s, "–")) {
		if strings.HasPrefix(s, "–") {
			s = s[len("–"):]
			continue
		}
		s = s[1:]
	}
	if i := strings.Index(s, ". All rights"); i >= 0 {
		s = s[:i]
	} else if i := strings.Index(s, " All rights"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "."))
}

const receiptsDir = "var/db/receipts"

func readReceipts(root fs.FS) ([]wire.Package, []error) {
	ents, err := fs.ReadDir(root, receiptsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{source.Wrap(wire.SourceMacPkg, err)}
	}
	var pkgs []wire.Package
	pe := parseErrors{src: wire.SourceMacPkg}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".plist") {
			continue
		}
		data, err := fs.ReadFile(root, joinPath(receiptsDir, e.Name()))
		if err != nil {
			pe.add(err)
			continue
		}
		p, err := ParseReceiptPlist(data)
		if err != nil {
			pe.add(fmt.Errorf("%s: %w", e.Name(), err))
			continue
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, pe.list()
}

// ParseReceiptPlist reads an installer receipt (/var/db/receipts/ID.plist,
// what pkgutil --pkg-info shows).
func ParseReceiptPlist(data []byte) (wire.Package, error) {
	d, err := plist.Dict(data)
	if err != nil {
		return wire.Package{}, err
	}
	id := plist.String(d, "PackageIdentifier")
	if id == "" {
		return wire.Package{}, errors.New("no PackageIdentifier")
	}
	p := wire.Package{Name: id, ID: id, Version: plist.String(d, "PackageVersion"), Source: wire.SourceMacPkg}
	if t, ok := d["InstallDate"].(time.Time); ok {
		p.InstallDate = t.UTC()
	}
	if loc := plist.String(d, "InstallPrefixPath"); loc != "" {
		p.Location = "/" + strings.TrimPrefix(loc, "/")
	}
	// The receipt names no vendor; the identifier's reverse domain does.
	if parts := strings.Split(id, "."); len(parts) >= 2 {
		p.Publisher = parts[1]
	}
	return p, nil
}

// Homebrew prefixes: Apple silicon, Intel, Linuxbrew.
var brewPrefixes = []string{"opt/homebrew", "usr/local", "home/linuxbrew/.linuxbrew"}

func readHomebrew(root fs.FS) ([]wire.Package, []error) {
	var pkgs []wire.Package
	pe := parseErrors{src: wire.SourceHomebrew}
	for _, prefix := range brewPrefixes {
		cellar := joinPath(prefix, "Cellar")
		names, err := fs.ReadDir(root, cellar)
		if err != nil {
			continue
		}
		for _, n := range names {
			versions, err := fs.ReadDir(root, joinPath(cellar, n.Name()))
			if err != nil {
				pe.add(err)
				continue
			}
			for _, v := range versions {
				if !v.IsDir() {
					continue
				}
				p := wire.Package{Name: n.Name(), Version: v.Name(), Source: wire.SourceHomebrew,
					Location: "/" + joinPath(cellar, n.Name(), v.Name())}
				if data, err := fs.ReadFile(root, joinPath(cellar, n.Name(), v.Name(), "INSTALL_RECEIPT.json")); err == nil {
					p.InstallDate, p.Publisher = ParseBrewReceipt(data)
				}
				pkgs = append(pkgs, p)
			}
		}
		casks, _ := fs.ReadDir(root, joinPath(prefix, "Caskroom"))
		for _, c := range casks {
			versions, _ := fs.ReadDir(root, joinPath(prefix, "Caskroom", c.Name()))
			for _, v := range versions {
				if v.IsDir() && !strings.HasPrefix(v.Name(), ".") {
					pkgs = append(pkgs, wire.Package{Name: c.Name(), Version: v.Name(), Source: wire.SourceHomebrew,
						ID: "cask/" + c.Name(), Location: "/" + joinPath(prefix, "Caskroom", c.Name(), v.Name())})
				}
			}
		}
	}
	return pkgs, pe.list()
}

// ParseBrewReceipt reads a keg's INSTALL_RECEIPT.json: when it was poured
// and from which tap.
func ParseBrewReceipt(data []byte) (time.Time, string) {
	var r struct {
		Time   int64 `json:"time"`
		Source struct {
			Tap string `json:"tap"`
		} `json:"source"`
	}
	if json.Unmarshal(data, &r) != nil {
		return time.Time{}, ""
	}
	return unixTime(r.Time), r.Source.Tap
}
