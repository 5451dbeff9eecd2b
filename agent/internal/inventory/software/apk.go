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

func readAPK(root fs.FS) ([]wire.Package, []error) {
	data, err := fs.ReadFile(root, "lib/apk/db/installed")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{source.Wrap(wire.SourceAPK, err)}
	}
	return ParseAPKInstalled(data)
}

// ParseAPKInstalled reads Alpine's installed database
// (/lib/apk/db/installed): stanzas of "X:value" lines separated by blank
// lines, P the name, V the version, A the architecture, I the installed
// size, m the maintainer, t the build time. File lines (F, R, a, Z, …) are
// skipped.
func ParseAPKInstalled(data []byte) ([]wire.Package, []error) {
	var pkgs []wire.Package
	pe := parseErrors{src: wire.SourceAPK}
	line := 0
	for len(data) > 0 {
		var stanza []byte
		start := line + 1
		stanza, data, line = nextStanza(data, line)
		p := wire.Package{Source: wire.SourceAPK}
		bad := false
		empty := true
		for l := range strings.Lines(string(stanza)) {
			l = strings.TrimRight(l, "\r\n")
			if l == "" {
				continue
			}
			empty = false
			if len(l) < 2 || l[1] != ':' {
				pe.add(fmt.Errorf("stanza at line %d: %q is not a field", start, clipBytes([]byte(l), 40)))
				bad = true
				break
			}
			v := l[2:]
			switch l[0] {
			case 'P':
				p.Name = v
			case 'V':
				p.Version = v
			case 'A':
				p.Arch = v
			case 'm':
				p.Publisher = v
			case 'I':
				if n, err := strconv.ParseUint(v, 10, 63); err == nil {
					p.SizeBytes = n
				}
			}
		}
		if bad || empty {
			continue
		}
		if p.Name == "" {
			pe.add(fmt.Errorf("stanza at line %d has no P: (name) field", start))
			continue
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, pe.list()
}
