package software

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"sort"
)

// rpm's NDB package database (Packages.db, SUSE ≥ 15 SP3 and openSUSE;
// rpm lib/backend/ndb/rpmpkg.c), all little-endian: a 32-byte header
// ("RpmP", version, generation, slot pages, next index) starts the slot
// pages; each 16-byte slot ("Slot", package index, block offset, block
// count) locates a blob in 16-byte blocks; a blob is a 16-byte head
// ("BlbS", package index, generation, length), the header blob, zero
// padding and a 12-byte tail (Adler-32 of everything before it, length,
// "BlbE").
const (
	ndbPageSize   = 4096
	ndbHeaderSize = 32
	ndbSlotSize   = 16
	ndbBlockSize  = 16
	ndbBlobHead   = 16
	ndbBlobTail   = 12
)

var (
	ndbMagic     = []byte("RpmP")
	ndbSlotMagic = []byte("Slot")
	ndbHeadMagic = []byte("BlbS")
	ndbTailMagic = []byte("BlbE")
)

// rpmNDBHeaders returns the header blobs of an NDB Packages.db in the
// order of their package indexes, with the errors of the blobs that could
// not be read. Damage to the header or the slots is an error for the
// whole file.
func rpmNDBHeaders(db []byte) ([][]byte, []error, error) {
	return ndbHeaders(db, true)
}

// ndbHeaders is rpmNDBHeaders; the fuzzer turns checksums off to reach
// past them.
func ndbHeaders(db []byte, checksums bool) ([][]byte, []error, error) {
	if len(db) < ndbHeaderSize || string(db[:4]) != string(ndbMagic) {
		return nil, nil, errors.New("not an rpm NDB database")
	}
	le := binary.LittleEndian
	if v := le.Uint32(db[4:]); v != 0 {
		return nil, nil, fmt.Errorf("NDB version %d is not supported", v)
	}
	slotPages := uint64(le.Uint32(db[12:]))
	if slotPages == 0 || slotPages*ndbPageSize > uint64(len(db)) {
		return nil, nil, fmt.Errorf("file is %d bytes, its header claims %d slot pages: truncated", len(db), slotPages)
	}
	type slot struct{ idx, off, cnt uint32 }
	var slots []slot
	for o := ndbHeaderSize; o < int(slotPages)*ndbPageSize; o += ndbSlotSize {
		s := db[o : o+ndbSlotSize]
		if string(s[:4]) != string(ndbSlotMagic) {
			return nil, nil, fmt.Errorf("slot at offset %d has no magic", o)
		}
		sl := slot{le.Uint32(s[4:]), le.Uint32(s[8:]), le.Uint32(s[12:])}
		if sl.off == 0 {
			continue // free
		}
		slots = append(slots, sl)
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i].idx < slots[j].idx })
	var out [][]byte
	var errs []error
	for _, sl := range slots {
		b, err := ndbBlob(db, sl.idx, uint64(sl.off)*ndbBlockSize, uint64(sl.cnt)*ndbBlockSize, slotPages*ndbPageSize, checksums)
		if err != nil {
			errs = append(errs, fmt.Errorf("package %d: %w", sl.idx, err))
			continue
		}
		out = append(out, b)
	}
	return out, errs, nil
}

// ndbBlob checks and returns the header blob of package idx at off.
func ndbBlob(db []byte, idx uint32, off, size, slotArea uint64, checksum bool) ([]byte, error) {
	if off < slotArea || size < ndbBlobHead+ndbBlobTail || off+size > uint64(len(db)) {
		return nil, fmt.Errorf("blob of %d bytes at offset %d is outside the file's blob area", size, off)
	}
	b := db[off : off+size]
	le := binary.LittleEndian
	if string(b[:4]) != string(ndbHeadMagic) || le.Uint32(b[4:]) != idx {
		return nil, fmt.Errorf("no blob of this package at offset %d", off)
	}
	n := uint64(le.Uint32(b[12:]))
	t := b[size-ndbBlobTail:]
	if n > size-ndbBlobHead-ndbBlobTail || string(t[8:]) != string(ndbTailMagic) || uint64(le.Uint32(t[4:])) != n {
		return nil, fmt.Errorf("blob at offset %d is cut or overwritten", off)
	}
	if sum := adler32.Checksum(b[:size-ndbBlobTail]); checksum && sum != le.Uint32(t) {
		return nil, fmt.Errorf("blob at offset %d fails its checksum", off)
	}
	return b[ndbBlobHead : ndbBlobHead+n], nil
}
