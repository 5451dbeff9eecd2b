package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// The journal is the collector's own durable copy of every report it has
// accepted and not yet written to ClickHouse: a request is answered once
// its report is on disk here (fsync'd, many requests per fsync), and the
// report stays here until ClickHouse has it. After a crash the collector
// writes what the journal holds; the report log makes the reports already
// written count once.
//
// A journal is a folder of segments, seg-<n>.log, each a sequence of
// records:
//
//	length   uint32, little-endian: bytes after the checksum
//	checksum uint32, CRC-32C of those bytes
//	received int64, little-endian: when the report was received, Unix ns
//	size     uint32, little-endian: the report's canonical JSON size
//	encoding byte: 0 JSON, 1 gzip-compressed JSON
//	report   the report as the agent sent it (Body)
//
// Records are appended to the newest segment; a segment is deleted once
// every report in it has been written (or refused by ClickHouse, in which
// case the report is kept in rejected/ beside the segments).
//
// Segments are filled with zeros before use (in the background, the next
// one while the current one fills), and records overwrite the zeros: an
// fdatasync then flushes only the records, not the file system's journal,
// which on ext4 would also wait for every other file's dirty data — and
// ClickHouse, writing beside the collector, always has plenty. A zero
// length ends a segment's records.
type journal struct {
	dir      string
	segBytes int64
	log      *slog.Logger

	mu         sync.Mutex
	f          *os.File
	cur        uint64              // the segment being appended to
	curSize    int64               // bytes of records in it
	open       map[uint64]*segment // segments with reports not yet written
	bytes      int64               // bytes of records in the open segments
	pending    []*jrecord          // waiting for the next commit
	committing bool
	broken     error            // a failed write or fsync: no more appends
	spare      chan preparedSeg // the next segment, being filled with zeros
}

type segment struct {
	left    int   // reports not yet written
	size    int64 // bytes of records
	corrupt bool
}

type preparedSeg struct {
	n   uint64
	f   *os.File
	err error
}

// jrecord is one report on its way to the journal.
type jrecord struct {
	data []byte // the encoded record
	seg  uint64 // set by the commit
	done chan error
}

const (
	journalHeader   = 8 // length + checksum
	defaultSegBytes = 16 << 20
	// maxRecordBytes refuses a length no report can have: a corrupt
	// length must not make replay allocate gigabytes.
	maxRecordBytes = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// replayed is a report read back from the journal.
type replayed struct {
	seg      uint64
	received time.Time
	report   *wire.Report
	size     int
}

// openJournal opens (creating it if need be) the journal in dir and reads
// back every report it holds.
func openJournal(dir string, segBytes int64, log *slog.Logger) (*journal, []replayed, error) {
	if segBytes <= 0 {
		segBytes = defaultSegBytes
	}
	if err := os.MkdirAll(filepath.Join(dir, "rejected"), 0o700); err != nil {
		return nil, nil, fmt.Errorf("creating the ingest journal: %w", err)
	}
	j := &journal{dir: dir, segBytes: segBytes, log: log, open: map[uint64]*segment{}}
	segs, err := j.segments()
	if err != nil {
		return nil, nil, err
	}
	var out []replayed
	for _, n := range segs {
		recs, size, corrupt, err := j.read(n)
		if err != nil {
			return nil, nil, err
		}
		if len(recs) == 0 && !corrupt {
			// Nothing to write (an empty segment left by a crash).
			if err := os.Remove(j.segPath(n)); err != nil {
				return nil, nil, fmt.Errorf("removing empty journal segment: %w", err)
			}
			continue
		}
		j.open[n] = &segment{left: len(recs), size: size, corrupt: corrupt}
		j.bytes += size
		out = append(out, recs...)
		if corrupt && len(recs) == 0 {
			j.finish(n)
		}
	}
	next := uint64(1)
	if len(segs) > 0 {
		next = segs[len(segs)-1] + 1
	}
	j.spare = make(chan preparedSeg, 1)
	j.spare <- j.prepare(next)
	if err := j.roll(); err != nil {
		return nil, nil, err
	}
	return j, out, nil
}

// prepare makes segment n: a file of segBytes zeros, on disk.
func (j *journal) prepare(n uint64) preparedSeg {
	path := j.segPath(n)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return preparedSeg{n: n, err: fmt.Errorf("creating journal segment: %w", err)}
	}
	zeros := make([]byte, min(j.segBytes, 1<<20))
	for off := int64(0); off < j.segBytes && err == nil; off += int64(len(zeros)) {
		_, err = f.WriteAt(zeros[:min(int64(len(zeros)), j.segBytes-off)], off)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(j.dir)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return preparedSeg{n: n, err: fmt.Errorf("preparing journal segment: %w", err)}
	}
	return preparedSeg{n: n, f: f}
}

func (j *journal) segPath(n uint64) string {
	return filepath.Join(j.dir, fmt.Sprintf("seg-%016d.log", n))
}

// segments lists the segment numbers in the folder, oldest first.
func (j *journal) segments() ([]uint64, error) {
	ents, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("reading the ingest journal: %w", err)
	}
	var segs []uint64
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, "seg-") || !strings.HasSuffix(name, ".log") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, "seg-"), ".log"), 10, 64)
		if err != nil {
			continue
		}
		segs = append(segs, n)
	}
	slices.Sort(segs)
	return segs, nil
}

// read reads one segment's records. A zero length ends them (the rest of
// the segment is zeros). A record cut short, or whose checksum is wrong,
// with nothing but zeros after it, is the one being written when the
// collector died: it was never acknowledged, and is ignored. Anything else
// wrong ends the segment's reading; the segment is then kept, renamed
// .corrupt, once its good reports are written.
func (j *journal) read(n uint64) (recs []replayed, size int64, corrupt bool, err error) {
	path := j.segPath(n)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, false, fmt.Errorf("reading journal segment: %w", err)
	}
	off := 0
	for {
		if len(data)-off < journalHeader {
			if !zero(data[off:]) {
				j.log.Warn("ingest journal: ignoring a record cut short (never acknowledged)", "segment", path, "offset", off)
			}
			return recs, int64(off), false, nil
		}
		length := int(binary.LittleEndian.Uint32(data[off : off+4]))
		sum := binary.LittleEndian.Uint32(data[off+4 : off+8])
		if length == 0 && sum == 0 {
			return recs, int64(off), false, nil
		}
		end := off + journalHeader + length
		var bad string
		switch {
		case length < recordFixed || length > maxRecordBytes:
			bad = "corrupt record length"
		case end > len(data):
			bad = "record cut short"
		case crc32.Checksum(data[off+journalHeader:end], crcTable) != sum:
			bad = "record checksum mismatch"
		}
		if bad != "" {
			if end <= len(data) && zero(data[max(end, off+journalHeader):]) || end > len(data) && zero(data[off+journalHeader:]) {
				j.log.Warn("ingest journal: ignoring the last record, cut short (never acknowledged)", "segment", path, "offset", off, "problem", bad)
				return recs, int64(off), false, nil
			}
			j.log.Error("ingest journal: "+bad+"; the rest of the segment is kept aside", "segment", path, "offset", off)
			return recs, int64(off), true, nil
		}
		body := data[off+journalHeader : end]
		received := time.Unix(0, int64(binary.LittleEndian.Uint64(body[0:8]))).UTC()
		rsize := int(binary.LittleEndian.Uint32(body[8:12]))
		rep, err := decodeBody(Body{Data: body[recordFixed:], Gzip: body[12] == 1})
		if err != nil || body[12] > 1 {
			j.log.Error("ingest journal: unreadable report; the rest of the segment is kept aside", "segment", path, "offset", off, "error", err)
			return recs, int64(off), true, nil
		}
		recs = append(recs, replayed{seg: n, received: received, report: rep, size: rsize})
		off = end
	}
}

// zero reports whether b holds only zeros.
func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// recordFixed is the record's bytes after the checksum and before the
// report: received, size, encoding.
const recordFixed = 13

// encodeRecord returns a report's journal record.
func encodeRecord(received time.Time, size int, b Body) []byte {
	rec := make([]byte, journalHeader+recordFixed+len(b.Data))
	f := rec[journalHeader:]
	binary.LittleEndian.PutUint64(f[0:8], uint64(received.UnixNano()))
	binary.LittleEndian.PutUint32(f[8:12], uint32(min(max(size, 0), math.MaxUint32)))
	if b.Gzip {
		f[12] = 1
	}
	copy(f[recordFixed:], b.Data)
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(rec)-journalHeader))
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(f, crcTable))
	return rec
}

// maxReplayJSON bounds a journaled report's JSON once decompressed.
const maxReplayJSON = 1 << 30

// decodeBody reads back a journaled report. It was checked when it
// arrived (wire.Decode), so only its JSON is read here.
func decodeBody(b Body) (*wire.Report, error) {
	var in io.Reader = bytes.NewReader(b.Data)
	if b.Gzip {
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		in = zr
	}
	var rep wire.Report
	if err := json.NewDecoder(io.LimitReader(in, maxReplayJSON)).Decode(&rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// append writes a record and returns once it is on disk, with the segment
// that holds it. Concurrent appends share one write and one fsync.
func (j *journal) append(rec []byte) (uint64, error) {
	jr := &jrecord{data: rec, done: make(chan error, 1)}
	j.mu.Lock()
	if j.broken != nil {
		err := j.broken
		j.mu.Unlock()
		return 0, err
	}
	j.pending = append(j.pending, jr)
	lead := !j.committing
	j.committing = true
	j.mu.Unlock()
	if lead {
		j.commit()
	}
	err := <-jr.done
	return jr.seg, err
}

// commit writes what is pending, one group at a time, until nothing is.
func (j *journal) commit() {
	var buf []byte
	for {
		j.mu.Lock()
		group := j.pending
		j.pending = nil
		if len(group) == 0 || j.broken != nil {
			j.committing = false
			err := j.broken
			j.mu.Unlock()
			for _, jr := range group {
				jr.done <- err
			}
			return
		}
		n := 0
		for _, jr := range group {
			n += len(jr.data)
		}
		buf = slices.Grow(buf[:0], n)
		for _, jr := range group {
			buf = append(buf, jr.data...)
		}
		var err error
		// A new segment when this one is full (a group bigger than a
		// segment grows it).
		if j.curSize > 0 && j.curSize+int64(len(buf)) > j.segBytes {
			err = j.roll()
		}
		f, seg, at := j.f, j.cur, j.curSize
		j.mu.Unlock()

		if err == nil {
			_, err = f.WriteAt(buf, at)
		}
		if err == nil {
			err = datasync(f)
		}

		j.mu.Lock()
		if err != nil {
			// What was written of the group is a torn tail: never
			// acknowledged, ignored by the replay. Appending after it
			// could hide good records behind it, so the journal stops.
			j.broken = fmt.Errorf("%w: ingest journal: %w", errJournal, err)
			err = j.broken
			j.log.Error("ingest journal write failed; refusing reports until the collector restarts", "error", err)
		} else {
			j.curSize += int64(len(buf))
			j.bytes += int64(len(buf))
			j.open[seg].left += len(group)
			j.open[seg].size += int64(len(buf))
		}
		j.mu.Unlock()
		for _, jr := range group {
			jr.seg = seg
			jr.done <- err
		}
	}
}

var errJournal = errors.New("journal unavailable")

// roll starts the prepared segment and has the next one prepared; j.mu
// is held (or j is not yet shared).
func (j *journal) roll() error {
	p := <-j.spare
	if p.err != nil {
		// Try again at the next roll.
		n := p.n
		go func() { j.spare <- j.prepare(n) }()
		return p.err
	}
	if j.f != nil {
		j.f.Close()
		prev := j.cur
		if s := j.open[prev]; s != nil && s.left == 0 {
			j.finish(prev)
		}
	}
	j.f, j.cur, j.curSize = p.f, p.n, 0
	j.open[p.n] = &segment{}
	go func() { j.spare <- j.prepare(p.n + 1) }()
	return nil
}

// done records that a report of segment n has been written or set aside.
func (j *journal) done(n uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.open[n]
	if s == nil {
		return
	}
	s.left--
	if s.left <= 0 && n != j.cur {
		j.finish(n)
	}
}

// finish removes a segment every report of which is written; j.mu is held.
func (j *journal) finish(n uint64) {
	s := j.open[n]
	delete(j.open, n)
	path := j.segPath(n)
	if s != nil {
		j.bytes -= s.size
	}
	if s != nil && s.corrupt {
		if err := os.Rename(path, path+".corrupt"); err != nil {
			j.log.Error("ingest journal: cannot set a corrupt segment aside", "segment", path, "error", err)
		}
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		j.log.Error("ingest journal: cannot remove a written segment", "segment", path, "error", err)
	}
}

// reject keeps a report ClickHouse refused, for an operator to look at.
func (j *journal) reject(r *wire.Report, reason error) {
	b, err := json.Marshal(struct {
		Reason string       `json:"reason"`
		Report *wire.Report `json:"report"`
	}{reason.Error(), r})
	if err == nil {
		name := "report-" + safeName(r.ID) + ".json"
		err = os.WriteFile(filepath.Join(j.dir, "rejected", name), b, 0o600)
	}
	if err != nil {
		j.log.Error("ingest journal: cannot keep a refused report", "report_id", r.ID, "error", err)
	}
}

// safeName keeps a report id usable as a file name whatever it holds.
func safeName(id string) string {
	var sb strings.Builder
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			sb.WriteRune(c)
		default:
			sb.WriteByte('_')
		}
		if sb.Len() >= 128 {
			break
		}
	}
	return sb.String()
}

// size is the bytes the journal's open segments take.
func (j *journal) size() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.bytes
}

func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	j.broken = fmt.Errorf("%w: ingest journal closed", errJournal)
	if s := j.open[j.cur]; s != nil && s.left == 0 {
		j.finish(j.cur)
	}
	// The prepared segment holds nothing.
	if p := <-j.spare; p.f != nil {
		p.f.Close()
		os.Remove(j.segPath(p.n))
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing the journal folder: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing the journal folder: %w", err)
	}
	return nil
}
