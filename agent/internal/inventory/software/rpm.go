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

// readRPM reads the rpm database without the rpm tool, in whichever format
// the host has: sqlite (Fedora ≥ 33, RHEL 9), NDB (SUSE) or Berkeley DB.
// A database that cannot be read costs the rpm source only.
func readRPM(root fs.FS) ([]wire.Package, []error) {
	for _, f := range []struct {
		path    string
		headers func([]byte) ([][]byte, []error, error)
	}{{rpmSQLite, rpmSQLiteHeaders}, {rpmNDB, rpmNDBHeaders}, {rpmBDB, rpmBDBHeaders}} {
		data, err := fs.ReadFile(root, f.path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return nil, []error{source.Wrap(wire.SourceRPM, err)}
		}
		blobs, blobErrs, err := f.headers(data)
		if err != nil {
			return nil, []error{source.Errorf(wire.SourceRPM, "/%s: %w", f.path, err)}
		}
		pe := parseErrors{src: wire.SourceRPM}
		for _, e := range blobErrs {
			pe.add(fmt.Errorf("/%s: %w", f.path, e))
		}
		var pkgs []wire.Package
		for i, b := range blobs {
			p, err := ParseRPMHeader(b)
			if err != nil {
				pe.add(fmt.Errorf("/%s: package %d: %w", f.path, i, err))
				continue
			}
			if p.Name == "gpg-pubkey" {
				continue // a signing key imported into the database, not software
			}
			pkgs = append(pkgs, p)
		}
		return pkgs, pe.list()
	}
	return nil, nil
}

// rpmSQLiteHeaders returns the header blobs of rpmdb.sqlite.
func rpmSQLiteHeaders(db []byte) ([][]byte, []error, error) {
	blobs, err := SQLiteTableBlobs(db, "Packages", 1)
	return blobs, nil, err
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

// rpmStringTags are the string tags ParseRPMHeader reads.
var rpmStringTags = map[uint32]bool{rpmTagName: true, rpmTagVersion: true, rpmTagRelease: true, rpmTagVendor: true,
	rpmTagPackager: true, rpmTagArch: true}

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
			if rpmStringTags[tag] {
				s, ok = str(off)
			} else {
				ok = off < uint32(len(store)) // not read: no scan for its end
			}
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
