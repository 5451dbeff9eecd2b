// Package spool is the agent's durable outbox: every report is written here
// before it is sent, and removed only when the collector has stored it.
//
// # Layout and crash safety
//
// One file per record, named by its sequence number (0000000000000007.usp).
// Put writes the record to a temporary file, fsyncs it, renames it into
// place and fsyncs the folder before it returns: a record Put has returned
// for survives kill -9 and power loss; a record whose Put had not returned
// is either whole or absent (a leftover temporary file is removed on Open).
// Each file is framed (magic, lengths, CRC32C of the header, CRC32C of key
// and payload), so a file the file system tore anyway — truncated, with
// garbage appended, or with bytes flipped — is detected, removed and counted,
// never handed out.
//
// One file per record rather than an append-only segment log: the agent
// writes a few records an hour, each tens of kilobytes, and removes them
// one by one in any order (sent, replaced by a newer snapshot, dropped for
// space). With a file each, removal is an unlink: no tombstones, no
// compaction, nothing to rewrite, and a crash can tear at most the one file
// being written. The price, two fsyncs per Put, is nothing at that rate.
//
// # Bounds
//
// The spool holds at most Options.MaxBytes of record files. A Snapshot
// record has a key and replaces the unsent record with the same key (a new
// inventory makes the old one worthless). Discovery records are dropped
// oldest-first to make room; their number and size are counted in Dropped,
// kept on disk, until the agent has put the count in a report.
//
// Delivery is at-least-once: the collector dedupes by report id.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Class says how a record is treated when the spool is full.
type Class uint8

const (
	// Snapshot records are keyed: a newer one replaces the unsent one with
	// the same key, and they are never dropped for space.
	Snapshot Class = 1
	// Discovery records are dropped oldest-first when the spool is full.
	Discovery Class = 2
)

func (c Class) valid() bool { return c == Snapshot || c == Discovery }

func (c Class) String() string {
	switch c {
	case Snapshot:
		return "snapshot"
	case Discovery:
		return "discovery"
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Errors of Put.
var (
	// ErrFull means the record does not fit even after every discovery
	// record has been dropped.
	ErrFull = errors.New("spool full")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("spool closed")
)

// DefaultMaxBytes bounds a spool whose Options leave it zero.
const DefaultMaxBytes = 64 << 20

// Options tune a spool.
type Options struct {
	// MaxBytes bounds the total size of the record files.
	MaxBytes int64

	noSync bool             // tests of recovery only: skip fsync
	now    func() time.Time // tests: the clock
}

// Record is one spooled record.
type Record struct {
	Seq     uint64
	Class   Class
	Key     string
	Spooled time.Time
	Payload []byte
}

// Recovery says what Open found.
type Recovery struct {
	Records int   // intact records
	Bytes   int64 // their size on disk
	// Torn lists the files found torn and removed.
	Torn []string
	// Replaced counts older snapshots found beside a newer one with the same
	// key (a crash between the newer one's rename and the older one's
	// removal) and removed.
	Replaced int
	// Temps counts leftover temporary files of unfinished Puts, removed.
	Temps int
}

// Dropped counts discovery records dropped for space.
type Dropped struct {
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
}

// Stats describe a spool.
type Stats struct {
	Records int
	Bytes   int64
	Dropped Dropped
	// Torn counts torn records found since Open, at Open or on reading.
	Torn int
}

type entry struct {
	class   Class
	key     string
	size    int64
	spooled int64
}

// Spool is a durable outbox in one folder. Its methods are safe for
// concurrent use; one process at a time may open a folder.
type Spool struct {
	dir  string
	opts Options

	mu      sync.Mutex
	closed  bool
	next    uint64
	entries map[uint64]entry
	order   []uint64          // every seq, ascending
	disc    []uint64          // discovery seqs, ascending
	keys    map[string]uint64 // snapshot key → seq
	bytes   int64
	dropped Dropped
	torn    int

	changed chan struct{}
}

const (
	ext         = ".usp"
	tmpPrefix   = ".tmp-"
	droppedFile = "dropped"
)

func recordName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, ext) }

// Open opens the spool in dir, making dir if needed, removes torn records
// and leftovers of unfinished writes, and says what it found.
func Open(dir string, opts Options) (*Spool, Recovery, error) {
	var rec Recovery
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, rec, fmt.Errorf("making spool folder: %w", err)
	}
	s := &Spool{
		dir:     dir,
		opts:    opts,
		next:    1,
		entries: make(map[uint64]entry),
		keys:    make(map[string]uint64),
		changed: make(chan struct{}, 1),
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, rec, fmt.Errorf("reading spool folder: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		switch {
		case strings.HasPrefix(name, tmpPrefix):
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, rec, fmt.Errorf("removing unfinished spool file: %w", err)
			}
			rec.Temps++
			continue
		case !strings.HasSuffix(name, ext) || !de.Type().IsRegular():
			continue // not ours
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, ext), 16, 64)
		if err != nil || recordName(seq) != name {
			continue
		}
		e, err := readEntry(filepath.Join(dir, name), seq)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				return nil, rec, err
			}
			if err := s.removeFile(seq); err != nil {
				return nil, rec, err
			}
			rec.Torn = append(rec.Torn, name)
			continue
		}
		s.next = max(s.next, seq+1)
		s.entries[seq] = e
		s.order = append(s.order, seq)
	}
	slices.Sort(s.order)
	// Resolve snapshots with the same key: the newest wins.
	for _, seq := range slices.Clone(s.order) {
		e := s.entries[seq]
		if e.class == Discovery {
			s.disc = append(s.disc, seq)
		} else if old, ok := s.keys[e.key]; ok {
			if err := s.removeFile(old); err != nil {
				return nil, rec, err
			}
			s.forget(old)
			rec.Replaced++
		}
		if e.class == Snapshot {
			s.keys[e.key] = seq
		}
		s.bytes += e.size
	}
	s.torn = len(rec.Torn)
	s.dropped = readDropped(filepath.Join(dir, droppedFile))
	rec.Records, rec.Bytes = len(s.order), s.bytes
	if rec.Temps > 0 || len(rec.Torn) > 0 || rec.Replaced > 0 {
		s.syncDir()
	}
	return s, rec, nil
}

// readEntry reads and checks the header of one record file.
func readEntry(path string, seq uint64) (entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return entry{}, fmt.Errorf("opening spool record: %w", err)
	}
	defer f.Close()
	var hb [headerSize]byte
	n, err := io.ReadFull(f, hb[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return entry{}, fmt.Errorf("reading spool record: %w", err)
	}
	h, err := decodeHeader(hb[:n])
	if err != nil {
		return entry{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		return entry{}, fmt.Errorf("reading spool record: %w", err)
	}
	if fi.Size() != h.fileSize {
		return entry{}, fmt.Errorf("%w: %d bytes, want %d", ErrCorrupt, fi.Size(), h.fileSize)
	}
	if h.seq != seq {
		return entry{}, fmt.Errorf("%w: file of record %d holds record %d", ErrCorrupt, seq, h.seq)
	}
	if h.class == Snapshot && h.keyLen == 0 {
		return entry{}, fmt.Errorf("%w: snapshot without a key", ErrCorrupt)
	}
	e := entry{class: h.class, size: h.fileSize, spooled: h.spooled}
	if h.class == Snapshot {
		// Snapshots are few, and their key decides which one replaces which:
		// check the whole record before trusting the key.
		b := make([]byte, h.fileSize)
		copy(b, hb[:])
		if _, err := io.ReadFull(f, b[headerSize:]); err != nil {
			return entry{}, fmt.Errorf("%w: reading record: %v", ErrCorrupt, err)
		}
		_, key, _, err := decode(b)
		if err != nil {
			return entry{}, err
		}
		e.key = key
	} else if h.keyLen > 0 {
		key := make([]byte, h.keyLen)
		if _, err := io.ReadFull(f, key); err != nil {
			return entry{}, fmt.Errorf("%w: reading key: %v", ErrCorrupt, err)
		}
		e.key = string(key)
	}
	return e, nil
}

// Put writes a record and returns its sequence number once it is durable.
// A Snapshot needs a key and replaces the unsent snapshot with that key;
// a Discovery record's key is only carried along. When the spool is full,
// discovery records are dropped oldest-first to make room; a record that
// cannot fit returns ErrFull (a discovery record refused so is counted as
// dropped).
func (s *Spool) Put(class Class, key string, payload []byte) (uint64, error) {
	if !class.valid() {
		return 0, fmt.Errorf("spool: unknown class %d", class)
	}
	if class == Snapshot && key == "" {
		return 0, errors.New("spool: a snapshot needs a key")
	}
	if len(key) > maxKeyLen {
		return 0, fmt.Errorf("spool: key is %d bytes, the limit is %d", len(key), maxKeyLen)
	}
	if len(payload) > MaxPayload {
		return 0, fmt.Errorf("spool: payload is %d bytes, the limit is %d", len(payload), MaxPayload)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	size := int64(headerSize + len(key) + len(payload) + trailerSize)
	var replaced uint64
	var freed int64
	if class == Snapshot {
		if old, ok := s.keys[key]; ok {
			replaced, freed = old, s.entries[old].size
		}
	}
	// Choose the discovery records to drop, oldest first.
	var drop []uint64
	need := s.bytes - freed + size - s.opts.MaxBytes
	for i := 0; need > 0 && i < len(s.disc); i++ {
		drop = append(drop, s.disc[i])
		need -= s.entries[s.disc[i]].size
	}
	if need > 0 {
		if class == Discovery {
			s.dropped.Records++
			s.dropped.Bytes += size
			if err := s.saveDropped(); err != nil {
				return 0, err
			}
		}
		return 0, fmt.Errorf("%w: %d bytes held, %d more do not fit in %d", ErrFull, s.bytes, size, s.opts.MaxBytes)
	}

	seq := s.next
	spooled := s.opts.now().UnixNano()
	if err := s.write(seq, encode(class, key, seq, spooled, payload)); err != nil {
		return 0, fmt.Errorf("spooling record: %w", err)
	}
	s.next++
	s.entries[seq] = entry{class: class, key: key, size: size, spooled: spooled}
	s.order = append(s.order, seq)
	s.bytes += size
	if class == Discovery {
		s.disc = append(s.disc, seq)
	} else {
		s.keys[key] = seq
	}

	// The new record is durable: now the old ones may go. A crash before
	// their removal leaves them to be sent again or resolved by Open.
	if len(drop) > 0 {
		for _, d := range drop {
			s.dropped.Records++
			s.dropped.Bytes += s.entries[d].size
		}
		if err := s.saveDropped(); err != nil {
			return seq, err
		}
	}
	for _, d := range append(drop, replaced) {
		if d == 0 {
			continue
		}
		if err := s.removeFile(d); err != nil {
			return seq, err
		}
		s.forget(d)
	}
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return seq, nil
}

// write writes a record file durably: temporary file, fsync, rename, fsync
// of the folder.
func (s *Spool) write(seq uint64, data []byte) (err error) {
	f, err := os.CreateTemp(s.dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if !s.opts.noSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, recordName(seq))); err != nil {
		return err
	}
	s.syncDir()
	return nil
}

// syncDir flushes the folder's entries where the OS allows it (not on
// Windows, where a rename is durable once it returns on NTFS' journal).
func (s *Spool) syncDir() {
	if s.opts.noSync || runtime.GOOS == "windows" {
		return
	}
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

func (s *Spool) removeFile(seq uint64) error {
	err := os.Remove(filepath.Join(s.dir, recordName(seq)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing spool record: %w", err)
	}
	return nil
}

// forget drops seq from the index.
func (s *Spool) forget(seq uint64) {
	e, ok := s.entries[seq]
	if !ok {
		return
	}
	delete(s.entries, seq)
	s.bytes -= e.size
	if i, ok := slices.BinarySearch(s.order, seq); ok {
		s.order = slices.Delete(s.order, i, i+1)
	}
	if e.class == Discovery {
		if i, ok := slices.BinarySearch(s.disc, seq); ok {
			s.disc = slices.Delete(s.disc, i, i+1)
		}
	} else if s.keys[e.key] == seq {
		delete(s.keys, e.key)
	}
}

// Oldest returns the oldest record, reading and checking it. ok is false
// when the spool is empty. A record found torn is removed, counted and
// skipped.
func (s *Spool) Oldest() (rec Record, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return rec, false, ErrClosed
	}
	for len(s.order) > 0 {
		seq := s.order[0]
		e := s.entries[seq]
		b, err := os.ReadFile(filepath.Join(s.dir, recordName(seq)))
		if err == nil {
			var h header
			var key string
			var payload []byte
			h, key, payload, err = decode(b)
			if err == nil && (h.seq != seq || h.class != e.class || key != e.key) {
				err = fmt.Errorf("%w: record %d changed on disk", ErrCorrupt, seq)
			}
			if err == nil {
				return Record{Seq: seq, Class: h.class, Key: key, Spooled: time.Unix(0, h.spooled), Payload: payload}, true, nil
			}
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, fs.ErrNotExist) {
			return rec, false, fmt.Errorf("reading spool record %d: %w", seq, err)
		}
		if err := s.removeFile(seq); err != nil {
			return rec, false, err
		}
		s.forget(seq)
		s.torn++
	}
	return rec, false, nil
}

// Ack removes a record: it has been delivered (or refused for good). Acking
// a record that is gone already is not an error.
func (s *Spool) Ack(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if _, ok := s.entries[seq]; !ok {
		return nil
	}
	if err := s.removeFile(seq); err != nil {
		return err
	}
	s.forget(seq)
	return nil
}

// Changed is signalled after each Put; it has a buffer of one.
func (s *Spool) Changed() <-chan struct{} { return s.changed }

// Stats describe the spool now.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Records: len(s.order), Bytes: s.bytes, Dropped: s.dropped, Torn: s.torn}
}

// Dropped returns the count of discovery records dropped for space and not
// yet cleared.
func (s *Spool) Dropped() Dropped {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// ClearDropped subtracts d, a count returned by Dropped that has now been
// written into a spooled report.
func (s *Spool) ClearDropped(d Dropped) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.dropped.Records = max(0, s.dropped.Records-d.Records)
	s.dropped.Bytes = max(0, s.dropped.Bytes-d.Bytes)
	return s.saveDropped()
}

// Close closes the spool. Everything Put has returned for is on disk.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// saveDropped writes the drop count: 16 bytes and a CRC32C, replaced
// atomically.
func (s *Spool) saveDropped() error {
	var b [20]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(s.dropped.Records))
	binary.BigEndian.PutUint64(b[8:16], uint64(s.dropped.Bytes))
	binary.BigEndian.PutUint32(b[16:20], crc32.Checksum(b[:16], castagnoli))
	f, err := os.CreateTemp(s.dir, tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("saving drop count: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b[:])
	if err == nil && !s.opts.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, droppedFile))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("saving drop count: %w", err)
	}
	s.syncDir()
	return nil
}

// readDropped reads the drop count; a missing or damaged file counts zero.
func readDropped(path string) Dropped {
	b, err := os.ReadFile(path)
	if err != nil || len(b) != 20 || crc32.Checksum(b[:16], castagnoli) != binary.BigEndian.Uint32(b[16:20]) {
		return Dropped{}
	}
	return Dropped{Records: int64(binary.BigEndian.Uint64(b[0:8])), Bytes: int64(binary.BigEndian.Uint64(b[8:16]))}
}
