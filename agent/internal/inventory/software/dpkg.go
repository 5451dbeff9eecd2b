package software

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

const dpkgDir = "var/lib/dpkg"

func readDpkg(root fs.FS) ([]wire.Package, []error) {
	data, err := fs.ReadFile(root, dpkgDir+"/status")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{source.Wrap(wire.SourceDpkg, err)}
	}
	pkgs, errs := ParseDpkgStatus(data)
	// dpkg records no install date: the mtime of the package's file list
	// is when it was last installed or upgraded.
	if ents, err := fs.ReadDir(root, dpkgDir+"/info"); err == nil {
		mtimes := make(map[string]time.Time, len(ents)/4)
		for _, e := range ents {
			name, ok := strings.CutSuffix(e.Name(), ".list")
			if !ok {
				continue
			}
			if info, err := e.Info(); err == nil {
				mtimes[name] = info.ModTime().UTC().Truncate(time.Second)
			}
		}
		for i := range pkgs {
			p := &pkgs[i]
			if t, ok := mtimes[p.Name+":"+p.Arch]; ok {
				p.InstallDate = t
			} else if t, ok := mtimes[p.Name]; ok {
				p.InstallDate = t
			}
		}
	}
	return pkgs, errs
}

// ParseDpkgStatus reads dpkg's status file (/var/lib/dpkg/status) and
// returns the installed packages. A broken stanza is reported and skipped;
// the others are still returned.
func ParseDpkgStatus(data []byte) ([]wire.Package, []error) {
	var pkgs []wire.Package
	pe := parseErrors{src: wire.SourceDpkg}
	line := 0
	for len(data) > 0 {
		var stanza []byte
		start := line + 1
		stanza, data, line = nextStanza(data, line)
		if len(bytes.TrimSpace(stanza)) == 0 {
			continue
		}
		f, err := controlFields(stanza)
		if err != nil {
			pe.add(fmt.Errorf("stanza at line %d: %w", start, err))
			continue
		}
		name := f["Package"]
		if name == "" {
			pe.add(fmt.Errorf("stanza at line %d has no Package field", start))
			continue
		}
		if !dpkgInstalled(f["Status"]) {
			continue
		}
		p := wire.Package{
			Name:      name,
			Version:   f["Version"],
			Arch:      f["Architecture"],
			Publisher: f["Maintainer"],
			Source:    wire.SourceDpkg,
		}
		if kb, err := strconv.ParseUint(strings.TrimSpace(f["Installed-Size"]), 10, 40); err == nil {
			p.SizeBytes = kb * 1024
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, pe.list()
}

// dpkgInstalled reports whether a Status field ("install ok installed")
// says the package's files are on disk.
func dpkgInstalled(status string) bool {
	fields := strings.Fields(status)
	if len(fields) != 3 {
		return false
	}
	switch fields[2] {
	case "installed", "half-configured", "unpacked", "triggers-awaited", "triggers-pending":
		return true
	}
	return false
}

// nextStanza splits off the text up to the next blank line.
func nextStanza(data []byte, line int) (stanza, rest []byte, endLine int) {
	i := 0
	for i < len(data) {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			return data, nil, line + 1
		}
		l := data[i : i+j]
		line++
		if len(bytes.TrimSpace(l)) == 0 {
			return data[:i], data[i+j+1:], line
		}
		i += j + 1
	}
	return data, nil, line
}

// controlFields parses a Debian control stanza (RFC 822-like). Only the
// first line of a multi-line field is kept.
func controlFields(stanza []byte) (map[string]string, error) {
	f := make(map[string]string, 16)
	n := 0
	for l := range bytes.Lines(stanza) {
		n++
		l = bytes.TrimRight(l, "\r\n")
		if len(l) == 0 {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			if n == 1 {
				return nil, errors.New("continuation line before any field")
			}
			continue
		}
		k, v, ok := bytes.Cut(l, []byte(":"))
		if !ok || len(k) == 0 || bytes.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("line %d of the stanza is not a field: %q", n, clipBytes(l, 40))
		}
		f[string(k)] = string(bytes.TrimSpace(v))
	}
	return f, nil
}

func clipBytes(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

func (p *parseErrors) add(err error) {
	if len(p.errs) >= maxParseErrors {
		p.dropped++
		return
	}
	p.errs = append(p.errs, source.Wrap(p.src, err))
}

func (p *parseErrors) list() []error {
	if p.dropped > 0 {
		p.errs = append(p.errs, source.Errorf(p.src, "%d more errors not listed", p.dropped))
	}
	return p.errs
}

// joinPath joins slash-separated path parts for an fs.FS.
func joinPath(parts ...string) string { return path.Join(parts...) }
