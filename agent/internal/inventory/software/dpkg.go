package software

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

const dpkgDir = "var/lib/dpkg"

func readDpkg(root fs.FS) ([]wire.Package, []error) {
	f, err := root.Open(dpkgDir + "/status")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{source.Wrap(wire.SourceDpkg, err)}
	}
	pkgs, multiArch, errs := parseDpkgStatus(f)
	f.Close()
	// dpkg records no install date: the mtime of the package's file list
	// is when it was last installed or upgraded. The list is
	// info/<name>:<arch>.list for a "Multi-Arch: same" package and
	// info/<name>.list for the others; each is looked up directly, which
	// costs less than listing the thousands of files of info/.
	var buf []byte
	mtime := func(parts ...string) (time.Time, bool) {
		buf = append(buf[:0], dpkgDir+"/info/"...)
		for _, p := range parts {
			buf = append(buf, p...)
		}
		buf = append(buf, ".list"...)
		info, err := fs.Stat(root, string(buf))
		if err != nil {
			return time.Time{}, false
		}
		return info.ModTime().UTC().Truncate(time.Second), true
	}
	for i := range pkgs {
		p := &pkgs[i]
		if !validListName(p.Name) || !validListName(p.Arch) {
			continue
		}
		var t time.Time
		var ok bool
		if multiArch[i] {
			if t, ok = mtime(p.Name, ":", p.Arch); !ok {
				t, ok = mtime(p.Name)
			}
		} else if t, ok = mtime(p.Name); !ok {
			t, ok = mtime(p.Name, ":", p.Arch)
		}
		if ok {
			p.InstallDate = t
		}
	}
	return pkgs, errs
}

// validListName rejects names that cannot be part of a file name of
// info/ (a corrupt status file could hold "../").
func validListName(s string) bool {
	return !strings.ContainsAny(s, "/\x00")
}

// ParseDpkgStatus reads dpkg's status file (/var/lib/dpkg/status) and
// returns the installed packages. A broken stanza is reported and skipped;
// the others are still returned.
func ParseDpkgStatus(data []byte) ([]wire.Package, []error) {
	pkgs, _, errs := parseDpkgStatus(bytes.NewReader(data))
	return pkgs, errs
}

// parseDpkgStatus is ParseDpkgStatus streaming the file: it holds one
// line at a time and copies only the fields it keeps. multiArch tells,
// for each package, whether it is "Multi-Arch: same".
func parseDpkgStatus(r io.Reader) (pkgs []wire.Package, multiArch []bool, errs []error) {
	pe := parseErrors{src: wire.SourceDpkg}
	lr := lineReader{r: bufio.NewReaderSize(r, 16<<10)}
	// Architectures and maintainers repeat: one string each.
	interned := make(map[string]string, 64)
	intern := func(b []byte) string {
		if s, ok := interned[string(b)]; ok {
			return s
		}
		s := string(b)
		interned[s] = s
		return s
	}
	var st dpkgStanza
	lineNo := 0
	flush := func() {
		if st.lines == 0 {
			return
		}
		switch {
		case st.err != nil:
			pe.add(fmt.Errorf("stanza at line %d: %w", st.start, st.err))
		case len(st.name) == 0:
			pe.add(fmt.Errorf("stanza at line %d has no Package field", st.start))
		case dpkgInstalled(st.status):
			p := wire.Package{
				Name:      string(st.name),
				Version:   string(st.version),
				Arch:      intern(st.arch),
				Publisher: intern(st.maintainer),
				Source:    wire.SourceDpkg,
			}
			if kb, ok := parseKiB(st.size); ok {
				p.SizeBytes = kb * 1024
			}
			pkgs = append(pkgs, p)
			multiArch = append(multiArch, string(st.multiArch) == "same")
		}
		st.reset()
	}
	for {
		l, err := lr.next()
		if l == nil && err != nil {
			flush()
			if err != io.EOF {
				pe.add(fmt.Errorf("reading after line %d: %w", lineNo, err))
			}
			return pkgs, multiArch, pe.list()
		}
		lineNo++
		if len(bytes.TrimSpace(l)) == 0 {
			flush()
			continue
		}
		if st.lines == 0 {
			st.start = lineNo
		}
		st.lines++
		st.field(bytes.TrimRight(l, "\r\n"))
	}
}

// dpkgStanza holds the fields of one stanza that a package keeps, in
// buffers reused from stanza to stanza. As in a map of the fields, the
// last of a repeated field wins.
type dpkgStanza struct {
	start int // the line the stanza starts on
	lines int
	err   error // the first broken line

	name, version, arch, maintainer []byte
	status, size, multiArch         []byte
}

func (s *dpkgStanza) reset() {
	s.start, s.lines, s.err = 0, 0, nil
	s.name, s.version, s.arch = s.name[:0], s.version[:0], s.arch[:0]
	s.maintainer, s.status, s.size, s.multiArch = s.maintainer[:0], s.status[:0], s.size[:0], s.multiArch[:0]
}

// field reads the stanza's next line (l is not blank). Only the first
// line of a multi-line field is kept; after a broken line the rest of the
// stanza is skipped.
func (s *dpkgStanza) field(l []byte) {
	if s.err != nil || len(l) == 0 {
		return
	}
	if l[0] == ' ' || l[0] == '\t' {
		if s.lines == 1 {
			s.err = errors.New("continuation line before any field")
		}
		return
	}
	k, v, ok := bytes.Cut(l, []byte(":"))
	if !ok || len(k) == 0 || bytes.ContainsAny(k, " \t") {
		s.err = fmt.Errorf("line %d of the stanza is not a field: %q", s.lines, clipBytes(l, 40))
		return
	}
	var dst *[]byte
	switch string(k) {
	case "Package":
		dst = &s.name
	case "Version":
		dst = &s.version
	case "Architecture":
		dst = &s.arch
	case "Maintainer":
		dst = &s.maintainer
	case "Status":
		dst = &s.status
	case "Installed-Size":
		dst = &s.size
	case "Multi-Arch":
		dst = &s.multiArch
	default:
		return
	}
	*dst = append((*dst)[:0], bytes.TrimSpace(v)...)
}

// lineReader returns the lines of r without their "\n", however long.
type lineReader struct {
	r    *bufio.Reader
	long []byte
}

// next returns the next line, valid until the following call; at the end
// it returns nil and io.EOF (or the read error).
func (lr *lineReader) next() ([]byte, error) {
	l, err := lr.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		lr.long = append(lr.long[:0], l...)
		for err == bufio.ErrBufferFull {
			l, err = lr.r.ReadSlice('\n')
			lr.long = append(lr.long, l...)
		}
		l = lr.long
	}
	if len(l) > 0 && l[len(l)-1] == '\n' {
		return l[:len(l)-1], nil
	}
	if len(l) > 0 {
		if err == io.EOF {
			err = nil // the last line has no "\n"
		}
		return l, err
	}
	return nil, err
}

// parseKiB is strconv.ParseUint(s, 10, 40) without the garbage.
func parseKiB(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if n >= 1<<40 {
			return 0, false
		}
	}
	return n, true
}

// dpkgInstalled reports whether a Status field ("install ok installed")
// says the package's files are on disk.
func dpkgInstalled(status []byte) bool {
	var fields [3][]byte
	n := 0
	for f := range bytes.FieldsSeq(status) {
		if n == len(fields) {
			return false
		}
		fields[n] = f
		n++
	}
	if n != 3 {
		return false
	}
	switch string(fields[2]) {
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
