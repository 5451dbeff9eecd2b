package software

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

const pacmanLocal = "var/lib/pacman/local"

func readPacman(root fs.FS) ([]wire.Package, []error) {
	ents, err := fs.ReadDir(root, pacmanLocal)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{source.Wrap(wire.SourcePacman, err)}
	}
	var pkgs []wire.Package
	pe := parseErrors{src: wire.SourcePacman}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		data, err := fs.ReadFile(root, joinPath(pacmanLocal, e.Name(), "desc"))
		if err != nil {
			pe.add(err)
			continue
		}
		p, err := ParsePacmanDesc(data)
		if err != nil {
			pe.add(fmt.Errorf("%s: %w", e.Name(), err))
			continue
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, pe.list()
}

// ParsePacmanDesc reads an Arch Linux local database entry
// (/var/lib/pacman/local/NAME-VERSION/desc): "%FIELD%" lines each
// followed by value lines and a blank line.
func ParsePacmanDesc(data []byte) (wire.Package, error) {
	p := wire.Package{Source: wire.SourcePacman}
	field := ""
	for l := range strings.Lines(string(data)) {
		l = strings.TrimRight(l, "\r\n")
		switch {
		case l == "":
			field = ""
		case len(l) > 2 && l[0] == '%' && l[len(l)-1] == '%':
			field = l[1 : len(l)-1]
		case field != "":
			switch field {
			case "NAME":
				p.Name = l
			case "VERSION":
				p.Version = l
			case "ARCH":
				p.Arch = l
			case "PACKAGER":
				p.Publisher = l
			case "INSTALLDATE":
				if n, err := strconv.ParseInt(l, 10, 64); err == nil {
					p.InstallDate = unixTime(n)
				}
			case "SIZE":
				if n, err := strconv.ParseUint(l, 10, 63); err == nil {
					p.SizeBytes = n
				}
			}
			field = "" // only the first value of a field is kept
		}
	}
	if p.Name == "" {
		return p, errors.New("no %NAME%")
	}
	return p, nil
}
