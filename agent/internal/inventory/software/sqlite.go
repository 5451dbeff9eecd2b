package software

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// SQLiteTableBlobs reads a SQLite 3 database file and returns column col
// of every row of table, for the columns that hold a BLOB. It is a
// read-only reader of the documented file format, just enough for the rpm
// database (rpmdb.sqlite: "Packages (hnum INTEGER PRIMARY KEY, blob
// BLOB)"); it does not read a write-ahead log that has not been
// checkpointed.
func SQLiteTableBlobs(db []byte, table string, col int) ([][]byte, error) {
	r, err := newSQLiteReader(db)
	if err != nil {
		return nil, err
	}
	root := 0
	err = r.walk(1, 0, func(rec []byte) error {
		vals, err := sqliteRecord(rec)
		if err != nil {
			return err
		}
		if len(vals) >= 4 && string(vals[0].b) == "table" && strings.EqualFold(string(vals[1].b), table) {
			root = int(vals[3].n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the schema: %w", err)
	}
	if root <= 0 {
		return nil, fmt.Errorf("no table %q", table)
	}
	var out [][]byte
	err = r.walk(root, 0, func(rec []byte) error {
		vals, err := sqliteRecord(rec)
		if err != nil {
			return err
		}
		if col < len(vals) && vals[col].blob {
			out = append(out, vals[col].b)
		}
		return nil
	})
	return out, err
}

type sqliteReader struct {
	db       []byte
	pageSize int
	usable   int
	pages    int
	visited  int
}

func newSQLiteReader(db []byte) (*sqliteReader, error) {
	if len(db) < 100 || string(db[:16]) != "SQLite format 3\x00" {
		return nil, errors.New("not a SQLite 3 database")
	}
	ps := int(binary.BigEndian.Uint16(db[16:]))
	if ps == 1 {
		ps = 65536
	}
	if ps < 512 || ps&(ps-1) != 0 {
		return nil, fmt.Errorf("bad page size %d", ps)
	}
	usable := ps - int(db[20])
	if usable < 480 {
		return nil, errors.New("bad reserved space")
	}
	return &sqliteReader{db: db, pageSize: ps, usable: usable, pages: len(db) / ps}, nil
}

func (r *sqliteReader) page(n int) ([]byte, error) {
	if n < 1 || n > r.pages {
		return nil, fmt.Errorf("page %d is outside the file", n)
	}
	return r.db[(n-1)*r.pageSize : n*r.pageSize], nil
}

// walk visits every row of the table b-tree rooted at page n.
func (r *sqliteReader) walk(n, depth int, visit func(rec []byte) error) error {
	r.visited++
	if depth > 40 || r.visited > 4*r.pages+16 {
		return errors.New("b-tree loops or is too deep")
	}
	pg, err := r.page(n)
	if err != nil {
		return err
	}
	hdr := 0
	if n == 1 {
		hdr = 100
	}
	if len(pg) < hdr+12 {
		return errors.New("short page")
	}
	typ := pg[hdr]
	ncells := int(binary.BigEndian.Uint16(pg[hdr+3:]))
	ptrs := hdr + 8
	if typ == 0x05 {
		ptrs = hdr + 12
	}
	if ptrs+2*ncells > len(pg) {
		return fmt.Errorf("page %d: cell count %d too large", n, ncells)
	}
	cell := func(i int) (int, error) {
		off := int(binary.BigEndian.Uint16(pg[ptrs+2*i:]))
		if off >= r.usable || off < ptrs {
			return 0, fmt.Errorf("page %d: cell %d outside the page", n, i)
		}
		return off, nil
	}
	switch typ {
	case 0x05: // table interior
		for i := range ncells {
			off, err := cell(i)
			if err != nil {
				return err
			}
			if off+4 > len(pg) {
				return fmt.Errorf("page %d: short cell", n)
			}
			if err := r.walk(int(binary.BigEndian.Uint32(pg[off:])), depth+1, visit); err != nil {
				return err
			}
		}
		return r.walk(int(binary.BigEndian.Uint32(pg[hdr+8:])), depth+1, visit)
	case 0x0d: // table leaf
		for i := range ncells {
			off, err := cell(i)
			if err != nil {
				return err
			}
			size, k := sqliteVarint(pg[off:r.usable])
			if k == 0 {
				return fmt.Errorf("page %d: bad cell", n)
			}
			off += k
			_, k = sqliteVarint(pg[off:r.usable]) // rowid
			if k == 0 {
				return fmt.Errorf("page %d: bad cell", n)
			}
			off += k
			rec, err := r.payload(pg, off, size)
			if err != nil {
				return fmt.Errorf("page %d: %w", n, err)
			}
			if err := visit(rec); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("page %d is not a table b-tree page (type %#x)", n, typ)
}

// payload returns a cell's payload, following its overflow pages.
func (r *sqliteReader) payload(pg []byte, off int, size uint64) ([]byte, error) {
	if size > uint64(len(r.db)) {
		return nil, errors.New("payload larger than the file")
	}
	u := uint64(r.usable)
	x := u - 35
	local := size
	if size > x {
		m := (u-12)*32/255 - 23
		local = m + (size-m)%(u-4)
		if local > x {
			local = m
		}
	}
	if uint64(off)+local > uint64(r.usable) {
		return nil, errors.New("payload outside the page")
	}
	out := make([]byte, 0, size)
	out = append(out, pg[off:off+int(local)]...)
	if local == size {
		return out, nil
	}
	if off+int(local)+4 > len(pg) {
		return nil, errors.New("overflow pointer outside the page")
	}
	next := int(binary.BigEndian.Uint32(pg[off+int(local):]))
	for hops := 0; uint64(len(out)) < size; hops++ {
		if hops > r.pages {
			return nil, errors.New("overflow chain loops")
		}
		op, err := r.page(next)
		if err != nil {
			return nil, fmt.Errorf("overflow: %w", err)
		}
		n := min(size-uint64(len(out)), u-4)
		out = append(out, op[4:4+n]...)
		next = int(binary.BigEndian.Uint32(op))
	}
	return out, nil
}

type sqliteValue struct {
	n    int64
	b    []byte
	blob bool
}

// sqliteRecord decodes a record: a header of serial types, then values.
func sqliteRecord(rec []byte) ([]sqliteValue, error) {
	hlen, k := sqliteVarint(rec)
	if k == 0 || hlen > uint64(len(rec)) || hlen < uint64(k) {
		return nil, errors.New("bad record header")
	}
	hdr, body := rec[k:hlen], rec[hlen:]
	var vals []sqliteValue
	for len(hdr) > 0 {
		t, k := sqliteVarint(hdr)
		if k == 0 {
			return nil, errors.New("bad serial type")
		}
		hdr = hdr[k:]
		var v sqliteValue
		var n uint64
		switch {
		case t == 0 || t == 8 || t == 9:
			if t == 9 {
				v.n = 1
			}
		case t <= 6:
			n = [...]uint64{0, 1, 2, 3, 4, 6, 8}[t]
		case t == 7:
			n = 8
		case t >= 12:
			n = (t - 12) / 2
			v.blob = t%2 == 0
		default:
			return nil, fmt.Errorf("reserved serial type %d", t)
		}
		if n > uint64(len(body)) {
			return nil, errors.New("record shorter than its header says")
		}
		if t >= 1 && t <= 6 {
			var x int64
			for _, c := range body[:n] {
				x = x<<8 | int64(c)
			}
			if body[0]&0x80 != 0 { // sign-extend
				x -= 1 << (8 * n)
			}
			v.n = x
		} else {
			v.b = body[:n]
		}
		body = body[n:]
		vals = append(vals, v)
	}
	return vals, nil
}

// sqliteVarint decodes SQLite's big-endian varint; k is 0 when b is too
// short.
func sqliteVarint(b []byte) (v uint64, k int) {
	for i := 0; i < 9; i++ {
		if i >= len(b) {
			return 0, 0
		}
		if i == 8 {
			return v<<8 | uint64(b[i]), 9
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}
