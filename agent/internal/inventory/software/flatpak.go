package software

import (
	"bytes"
	"errors"
	"io/fs"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

const flatpakDir = "var/lib/flatpak"

// readFlatpak lists the system-wide flatpak applications and runtimes:
// var/lib/flatpak/{app,runtime}/ID/ARCH/BRANCH/active, the version read
// from the AppStream metainfo the deployment ships.
func readFlatpak(root fs.FS) ([]wire.Package, []error) {
	var pkgs []wire.Package
	pe := parseErrors{src: wire.SourceFlatpak}
	for _, kind := range []string{"app", "runtime"} {
		base := joinPath(flatpakDir, kind)
		ids, err := fs.ReadDir(root, base)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, []error{source.Wrap(wire.SourceFlatpak, err)}
		}
		for _, id := range ids {
			arches, _ := fs.ReadDir(root, joinPath(base, id.Name()))
			for _, arch := range arches {
				branches, _ := fs.ReadDir(root, joinPath(base, id.Name(), arch.Name()))
				for _, br := range branches {
					active := joinPath(base, id.Name(), arch.Name(), br.Name(), "active")
					info, err := fs.Stat(root, active)
					if err != nil {
						continue // not deployed
					}
					p := wire.Package{
						Name:        id.Name(),
						Arch:        arch.Name(),
						Source:      wire.SourceFlatpak,
						ID:          kind + "/" + id.Name() + "/" + arch.Name() + "/" + br.Name(),
						InstallDate: info.ModTime().UTC().Truncate(1e9),
						Location:    "/" + active,
					}
					meta, err := fs.ReadFile(root, joinPath(active, "files", "share", "metainfo", id.Name()+".metainfo.xml"))
					if err != nil {
						meta, _ = fs.ReadFile(root, joinPath(active, "files", "share", "appdata", id.Name()+".appdata.xml"))
					}
					p.Version, p.Publisher = metainfoVersion(meta)
					if p.Version == "" {
						p.Version = br.Name()
					}
					pkgs = append(pkgs, p)
				}
			}
		}
	}
	return pkgs, pe.list()
}

// metainfoVersion returns the first (newest) <release version="…"> and
// the <developer_name> of an AppStream metainfo file, without a full XML
// parse.
func metainfoVersion(b []byte) (version, developer string) {
	if i := bytes.Index(b, []byte("<release ")); i >= 0 {
		rest := b[i:]
		if end := bytes.IndexByte(rest, '>'); end > 0 {
			rest = rest[:end]
			if j := bytes.Index(rest, []byte(`version="`)); j >= 0 {
				v := rest[j+9:]
				if k := bytes.IndexByte(v, '"'); k >= 0 {
					version = string(v[:k])
				}
			}
		}
	}
	if i := bytes.Index(b, []byte("<developer_name>")); i >= 0 {
		v := b[i+16:]
		if k := bytes.Index(v, []byte("</developer_name>")); k >= 0 && k < 256 {
			developer = string(bytes.TrimSpace(v[:k]))
		}
	}
	return version, developer
}
