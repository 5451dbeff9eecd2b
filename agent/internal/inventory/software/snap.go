package software

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

// readSnap lists the snaps mounted under /snap: each /snap/NAME/current
// points at the active revision, whose meta/snap.yaml names it.
func readSnap(root fs.FS) ([]wire.Package, []error) {
	ents, err := fs.ReadDir(root, "snap")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{source.Wrap(wire.SourceSnap, err)}
	}
	var pkgs []wire.Package
	pe := parseErrors{src: wire.SourceSnap}
	for _, e := range ents {
		if e.Name() == "bin" || e.Name() == "README" {
			continue
		}
		meta := joinPath("snap", e.Name(), "current", "meta", "snap.yaml")
		data, err := fs.ReadFile(root, meta)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			pe.add(err)
			continue
		}
		p, err := ParseSnapYAML(data)
		if err != nil {
			pe.add(fmt.Errorf("%s: %w", meta, err))
			continue
		}
		if info, err := fs.Stat(root, joinPath("snap", e.Name(), "current")); err == nil {
			p.InstallDate = info.ModTime().UTC().Truncate(1e9)
		}
		p.Location = "/snap/" + e.Name()
		pkgs = append(pkgs, p)
	}
	return pkgs, pe.list()
}

// ParseSnapYAML reads the top-level name, version and first architecture
// of a snap's meta/snap.yaml. It is not a YAML parser: it reads the simple
// "key: value" lines snapcraft writes at the top level.
func ParseSnapYAML(data []byte) (wire.Package, error) {
	p := wire.Package{Source: wire.SourceSnap}
	inArch := false
	for l := range strings.Lines(string(data)) {
		l = strings.TrimRight(l, "\r\n")
		if inArch {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "- "); ok && strings.HasPrefix(l, " ") || strings.HasPrefix(l, "-") {
				if p.Arch == "" {
					p.Arch = yamlScalar(v)
				}
				continue
			}
			inArch = false
		}
		if l == "" || l[0] == ' ' || l[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		v = yamlScalar(v)
		switch k {
		case "name":
			p.Name = v
		case "version":
			p.Version = v
		case "architectures":
			if strings.HasPrefix(v, "[") {
				v = strings.Trim(v, "[]")
				first, _, _ := strings.Cut(v, ",")
				p.Arch = yamlScalar(first)
			} else {
				inArch = true
			}
		}
	}
	if p.Name == "" {
		return p, errors.New("no name")
	}
	return p, nil
}

func yamlScalar(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '\'' && s[len(s)-1] == '\'' || s[0] == '"' && s[len(s)-1] == '"') {
		s = s[1 : len(s)-1]
	}
	return s
}
