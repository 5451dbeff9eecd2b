package software

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// Berkeley DB hash database layout (Berkeley DB 4.x–5.3, dbinc/db_page.h),
// just enough to read rpm's Packages file of RHEL ≤ 8, CentOS 7 and SUSE
// before 15 SP3: page 0 is the metadata page, hash pages hold key/value
// items, and values too large for a hash page (every rpm header) live in
// chains of overflow pages.
const (
	bdbHashMagic  = 0x061561
	bdbBtreeMagic = 0x053162

	bdbPageHashUnsorted = 2  // P_HASH_UNSORTED
	bdbPageOverflow     = 7  // P_OVERFLOW
	bdbPageHash         = 13 // P_HASH

	bdbKeyData = 1 // H_KEYDATA: the bytes follow the type byte
	bdbOffPage = 3 // H_OFFPAGE: type, 3 unused, pgno, total length

	bdbPageHeader = 26 // SIZEOF_PAGE: lsn, pgno, prev, next, entries, hf_offset, level, type
	bdbChecksum   = 6  // PG_CHKSUM after the header when the database has checksums
)

// bdbRecord is one key/value pair.
type bdbRecord struct {
	key, value []byte
	err        error // the value could not be read
}

type bdbReader struct {
	db       []byte
	order    binary.ByteOrder
	pageSize int
	pages    int
	overhead int // bytes before a page's index or data
}

// BDBHashRecords reads a Berkeley DB hash database file and returns its
// key/value pairs. A value that cannot be read is returned with its
// error; damage to the file's structure is an error for the whole file.
func BDBHashRecords(db []byte) ([]bdbRecord, error) {
	r, last, err := newBDBReader(db)
	if err != nil {
		return nil, err
	}
	var out []bdbRecord
	for n := 1; n <= last; n++ {
		pg := r.page(n)
		if t := pg[25]; t != bdbPageHash && t != bdbPageHashUnsorted {
			continue // overflow, free or never used
		}
		if got := r.order.Uint32(pg[8:]); int(got) != n {
			return nil, fmt.Errorf("hash page %d says it is page %d", n, got)
		}
		entries := int(r.order.Uint16(pg[20:]))
		if r.overhead+2*entries > r.pageSize || entries%2 != 0 {
			return nil, fmt.Errorf("hash page %d claims %d items", n, entries)
		}
		prev := r.pageSize
		item := func(i int) ([]byte, error) {
			off := int(r.order.Uint16(pg[r.overhead+2*i:]))
			end := prev
			prev = off
			if off < r.overhead+2*entries || off >= end {
				return nil, fmt.Errorf("hash page %d: item %d at offset %d is outside the page", n, i, off)
			}
			return pg[off:end], nil
		}
		for i := 0; i < entries; i += 2 {
			k, err := item(i)
			if err != nil {
				return nil, err
			}
			v, err := item(i + 1)
			if err != nil {
				return nil, err
			}
			if k[0] != bdbKeyData {
				return nil, fmt.Errorf("hash page %d: key %d is of item type %d", n, i/2, k[0])
			}
			rec := bdbRecord{key: k[1:]}
			rec.value, rec.err = r.value(v)
			if rec.err != nil {
				rec.err = fmt.Errorf("hash page %d, item %d: %w", n, i+1, rec.err)
			}
			out = append(out, rec)
		}
	}
	return out, nil
}

func newBDBReader(db []byte) (*bdbReader, int, error) {
	if len(db) < 512 {
		return nil, 0, errors.New("not a Berkeley DB file: shorter than its metadata page")
	}
	r := &bdbReader{db: db}
	switch {
	case binary.LittleEndian.Uint32(db[12:]) == bdbHashMagic:
		r.order = binary.LittleEndian
	case binary.BigEndian.Uint32(db[12:]) == bdbHashMagic:
		r.order = binary.BigEndian // written on a big-endian host (s390x)
	case binary.LittleEndian.Uint32(db[12:]) == bdbBtreeMagic || binary.BigEndian.Uint32(db[12:]) == bdbBtreeMagic:
		return nil, 0, errors.New("a Berkeley DB btree database, not a hash database")
	default:
		return nil, 0, errors.New("not a Berkeley DB hash database")
	}
	if v := r.order.Uint32(db[16:]); v < 7 || v > 10 {
		return nil, 0, fmt.Errorf("hash database version %d is not supported", v)
	}
	if db[24] != 0 {
		return nil, 0, errors.New("the Berkeley DB database is encrypted")
	}
	r.pageSize = int(r.order.Uint32(db[20:]))
	if r.pageSize < 512 || r.pageSize > 65536 || r.pageSize&(r.pageSize-1) != 0 {
		return nil, 0, fmt.Errorf("bad Berkeley DB page size %d", r.pageSize)
	}
	r.overhead = bdbPageHeader
	if db[26]&1 != 0 { // DBMETA_CHKSUM
		r.overhead += bdbChecksum
	}
	r.pages = len(db) / r.pageSize
	last := int(r.order.Uint32(db[32:]))
	if last >= r.pages {
		return nil, 0, fmt.Errorf("file has %d pages of %d bytes, its metadata says %d: truncated", r.pages, r.pageSize, last+1)
	}
	return r, last, nil
}

func (r *bdbReader) page(n int) []byte {
	return r.db[n*r.pageSize : (n+1)*r.pageSize]
}

// value returns the bytes of a value item, following an overflow chain.
func (r *bdbReader) value(it []byte) ([]byte, error) {
	switch it[0] {
	case bdbKeyData:
		return it[1:], nil
	case bdbOffPage:
	default:
		return nil, fmt.Errorf("item type %d is not supported", it[0])
	}
	if len(it) < 12 {
		return nil, errors.New("off-page item shorter than 12 bytes")
	}
	n, total := int(r.order.Uint32(it[4:])), int(r.order.Uint32(it[8:]))
	if total > len(r.db) {
		return nil, fmt.Errorf("off-page item claims %d bytes, more than the file", total)
	}
	out := make([]byte, 0, total)
	for hops := 0; n != 0; hops++ {
		if n >= r.pages || hops >= r.pages {
			return nil, fmt.Errorf("overflow chain reaches page %d, outside the file or looping", n)
		}
		pg := r.page(n)
		if pg[25] != bdbPageOverflow || int(r.order.Uint32(pg[8:])) != n {
			return nil, fmt.Errorf("overflow chain reaches page %d, which is not an overflow page", n)
		}
		size := int(r.order.Uint16(pg[22:])) // OV_LEN: the bytes on this page
		if r.overhead+size > r.pageSize || len(out)+size > total {
			return nil, fmt.Errorf("overflow page %d claims %d bytes", n, size)
		}
		out = append(out, pg[r.overhead:r.overhead+size]...)
		n = int(r.order.Uint32(pg[16:]))
	}
	if len(out) != total {
		return nil, fmt.Errorf("overflow chain holds %d bytes, its item says %d", len(out), total)
	}
	return out, nil
}

// rpmBDBHeaders returns the header blobs of rpm's Berkeley DB Packages
// file, in the order of their instance numbers, with the errors of the
// records that could not be read.
func rpmBDBHeaders(db []byte) ([][]byte, []error, error) {
	recs, err := BDBHashRecords(db)
	if err != nil {
		return nil, nil, err
	}
	r, _, _ := newBDBReader(db) // for the byte order; it read above
	type inst struct {
		n    uint32
		blob []byte
	}
	var hdrs []inst
	var errs []error
	for _, rec := range recs {
		if len(rec.key) != 4 {
			errs = append(errs, fmt.Errorf("key of %d bytes, want a 4-byte header instance", len(rec.key)))
			continue
		}
		n := r.order.Uint32(rec.key)
		if n == 0 {
			continue // the last instance used, not a package
		}
		if rec.err != nil {
			errs = append(errs, fmt.Errorf("instance %d: %w", n, rec.err))
			continue
		}
		hdrs = append(hdrs, inst{n, rec.value})
	}
	sort.Slice(hdrs, func(i, j int) bool { return hdrs[i].n < hdrs[j].n })
	out := make([][]byte, len(hdrs))
	for i, h := range hdrs {
		out[i] = h.blob
	}
	return out, errs, nil
}
