package software

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strconv"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

// rpmdb files, newest format first.
const (
	rpmSQLite = "var/lib/rpm/rpmdb.sqlite"
	rpmNDB    = "var/lib/rpm/Packages.db" // SUSE
	rpmBDB    = "var/lib/rpm/Packages"    // Berkeley DB: RHEL ≤ 8, older Fedora
)

// readRPM reads the rpm database without the rpm tool.
func readRPM(root fs.FS) ([]wire.Package, []error) {
	data, err := fs.ReadFile(root, rpmSQLite)
	switch {
	case err == nil:
		blobs, err := SQLiteTableBlobs(data, "Packages", 1)
		if err != nil {
			return nil, []error{source.Errorf(wire.SourceRPM, "%s: %w", rpmSQLite, err)}
		}
		pe := parseErrors{src: wire.SourceRPM}
		var pkgs []wire.Package
		for i, b := range blobs {
			p, err := ParseRPMHeader(b)
			if err != nil {
				pe.add(fmt.Errorf("package %d: %w", i, err))
				continue
			}
			if p.Name == "gpg-pubkey" {
				continue // a signing key imported into the database, not software
			}
			pkgs = append(pkgs, p)
		}
		return pkgs, pe.list()
	case !errors.Is(err, fs.ErrNotExist):
		return nil, []error{source.Wrap(wire.SourceRPM, err)}
	}
	for _, f := range []string{rpmNDB, rpmBDB} {
		if _, err := fs.Stat(root, f); err == nil {
			return nil, []error{source.Errorf(wire.SourceRPM, "/%s: this rpm database format is not read yet: %w", f, source.ErrUnavailable)}
		}
	}
	return nil, nil
}

// rpm header tags and types.
const (
	rpmTagName        = 1000
	rpmTagVersion     = 1001
	rpmTagRelease     = 1002
	rpmTagEpoch       = 1003
	rpmTagInstallTime = 1008
	rpmTagSize        = 1009
	rpmTagVendor      = 1011
	rpmTagPackager    = 1015
	rpmTagArch        = 1022
	rpmTagLongSize    = 5009

	rpmInt32       = 4
	rpmInt64       = 5
	rpmString      = 6
	rpmStringArray = 8
	rpmI18NString  = 9
)

// ParseRPMHeader reads one package header as the rpm database stores it:
// the index count and data length (big-endian uint32), the index entries
// (tag, type, offset, count) and the data store.
func ParseRPMHeader(b []byte) (wire.Package, error) {
	var p wire.Package
	if len(b) < 8 {
		return p, errors.New("header shorter than 8 bytes")
	}
	il, dl := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	if il == 0 || il > 0xffff || dl > 256<<20 {
		return p, fmt.Errorf("header claims %d entries and %d bytes", il, dl)
	}
	need := 8 + uint64(il)*16 + uint64(dl)
	if uint64(len(b)) < need {
		return p, fmt.Errorf("header is %d bytes, its index claims %d", len(b), need)
	}
	store := b[8+il*16 : need]
	str := func(off uint32) (string, bool) {
		if off >= uint32(len(store)) {
			return "", false
		}
		s := store[off:]
		for i, c := range s {
			if c == 0 {
				return string(s[:i]), true
			}
		}
		return "", false
	}
	var epoch, release, version string
	var size uint64
	for i := range il {
		e := b[8+i*16:]
		tag, typ := binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
		off, cnt := binary.BigEndian.Uint32(e[8:]), binary.BigEndian.Uint32(e[12:])
		var s string
		var n uint64
		var ok bool
		switch typ {
		case rpmString, rpmI18NString, rpmStringArray:
			s, ok = str(off)
		case rpmInt32:
			if ok = cnt >= 1 && uint64(off)+4 <= uint64(len(store)); ok {
				n = uint64(binary.BigEndian.Uint32(store[off:]))
			}
		case rpmInt64:
			if ok = cnt >= 1 && uint64(off)+8 <= uint64(len(store)); ok {
				n = binary.BigEndian.Uint64(store[off:])
			}
		default:
			continue
		}
		if !ok {
			return p, fmt.Errorf("tag %d points outside the header", tag)
		}
		switch tag {
		case rpmTagName:
			p.Name = s
		case rpmTagVersion:
			version = s
		case rpmTagRelease:
			release = s
		case rpmTagEpoch:
			epoch = strconv.FormatUint(n, 10)
		case rpmTagInstallTime:
			p.InstallDate = unixTime(int64(n))
		case rpmTagSize:
			if size == 0 {
				size = n
			}
		case rpmTagLongSize:
			size = n
		case rpmTagVendor:
			p.Publisher = s
		case rpmTagPackager:
			if p.Publisher == "" {
				p.Publisher = s
			}
		case rpmTagArch:
			p.Arch = s
		}
	}
	if p.Name == "" {
		return p, errors.New("header has no name")
	}
	p.Version = version
	if release != "" {
		p.Version += "-" + release
	}
	if epoch != "" && epoch != "0" {
		p.Version = epoch + ":" + p.Version
	}
	p.SizeBytes = size
	p.Source = wire.SourceRPM
	return p, nil
}
